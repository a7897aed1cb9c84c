"""Raw pos.transactions against the contract (see expectations/_shared.py: raw_suites)."""

from expectations._shared import raw_suites

SUITES = raw_suites("pos", "transactions")
