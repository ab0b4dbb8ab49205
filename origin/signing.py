"""HMAC-SHA256 tokens for stream URLs: ``?exp=<unix>&sig=<base64url>``.

The signed message is ``path + "?exp=" + exp``; the same construction is
checked at the edge by ``infra/cloudfront/verify-token.js``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from urllib.parse import urlencode


def _signature(key: bytes, path: str, exp: int) -> str:
    digest = hmac.new(key, f"{path}?exp={exp}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_path(path: str, key: bytes, ttl_s: int, *, now: float | None = None) -> str:
    """Return ``path`` with an ``exp``/``sig`` query valid for ``ttl_s`` seconds."""
    return sign_path_until(path, key, int(now if now is not None else time.time()) + ttl_s)


def sign_path_until(path: str, key: bytes, exp: int) -> str:
    """Return ``path`` with an ``exp``/``sig`` query valid until unix time ``exp``."""
    return f"{path}?{urlencode({'exp': exp, 'sig': _signature(key, path, exp)})}"


def verify(
    path: str, exp: str | None, sig: str | None, keys: Sequence[bytes], *, now: float | None = None
) -> str | None:
    """Return None when the token is valid for ``path``, else why it is not."""
    if not exp or not sig:
        return "missing token"
    if not exp.isdigit() or len(exp) > 12:
        return "malformed token"
    if int(exp) < (now if now is not None else time.time()):
        return "expired token"
    for key in keys:
        if hmac.compare_digest(_signature(key, path, int(exp)).encode(), sig.encode()):
            return None
    return "invalid token"
