"""Tests run in demo mode: keyed tokens use the public demo secret unless one is set."""

import os

os.environ.setdefault("OMNI360_DEMO_MODE", "1")
