"""The UI password: a salted scrypt hash in ``BOA_UI_PASSWORD_HASH``, checked in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1  # about 16 MiB and a few tens of milliseconds per check


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt:N:r:p:<salt>:<key>`` (base64), for ``BOA_UI_PASSWORD_HASH``.

    No ``$`` in it, so shells and compose ``.env`` files take it as it is.
    """
    if not password:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(16) if salt is None else salt
    key = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return ":".join([SCHEME, str(N), str(R), str(P), _b64(salt), _b64(key)])


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; False for a wrong password or a malformed hash."""
    try:
        scheme, n, r, p, salt, key = stored.strip().split(":")
        if scheme != SCHEME:
            return False
        expected = base64.b64decode(key)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected), maxmem=2**26)  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def is_valid_hash(stored: str) -> bool:
    parts = stored.strip().split(":")
    return len(parts) == 6 and parts[0] == SCHEME and all(parts)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
