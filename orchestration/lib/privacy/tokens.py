"""Keyed tokens for personal identifiers: HMAC-SHA256 with a secret from the environment.

A plain hash of a phone number is reversible by trying every number; a keyed hash is not without
the key. The secret comes from `OMNI360_TOKEN_SECRET`; only in demo mode (`OMNI360_DEMO_MODE=1`)
a fixed demo secret is used, with a warning.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import warnings
from functools import lru_cache

SECRET_VAR = "OMNI360_TOKEN_SECRET"
DEMO_VAR = "OMNI360_DEMO_MODE"
_DEMO_SECRET = "omni360-demo-secret-not-for-production"


class MissingSecretError(RuntimeError):
    pass


@lru_cache(maxsize=1)
def _secret() -> bytes:
    secret = os.environ.get(SECRET_VAR)
    if secret:
        return secret.encode()
    if os.environ.get(DEMO_VAR) == "1":
        warnings.warn(
            f"{SECRET_VAR} is not set: tokens use the public demo secret (demo mode only)",
            stacklevel=2,
        )
        return _DEMO_SECRET.encode()
    raise MissingSecretError(
        f"{SECRET_VAR} is not set: set it to a long random secret kept outside the repository "
        f"(or {DEMO_VAR}=1 for the demo, which uses a public secret)"
    )


def secret() -> bytes:
    """The token secret (for an engine whose workers do not share this environment)."""
    return _secret()


def token(kind: str, value: str | None, key: bytes | None = None) -> str | None:
    """`<kind>:<value>` keyed with the secret (or `key`), as 64 hex characters; None for None."""
    if value is None:
        return None
    message = f"{kind}:{value}".encode()
    return hmac.new(key or _secret(), message, hashlib.sha256).hexdigest()
