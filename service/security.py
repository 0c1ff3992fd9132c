"""API keys (Bearer) and the admin key, stored as SHA-256 hashes and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys

from fastapi import HTTPException, Request


def hash_key(key: str) -> str:
    """The form a key is stored in settings: hex SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


def matches(key: str, hashes: list[str]) -> bool:
    """Constant-time comparison of the key's hash against every stored hash."""
    digest = hash_key(key).encode()
    found = False
    for stored in hashes:
        found |= hmac.compare_digest(digest, stored.strip().lower().encode())
    return found


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def require_api_key(request: Request) -> str:
    """Dependency for the describe routes: the caller's identity for rate limits (key hash, or client address)."""
    hashes = request.app.state.settings.api_key_hashes
    if not hashes:
        return f"client:{request.client.host if request.client else 'unknown'}"
    token = bearer_token(request)
    if token is None:
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if not matches(token, hashes):
        raise HTTPException(401, "API key not recognised", headers={"WWW-Authenticate": "Bearer"})
    return "key:" + hash_key(token)[:12]


async def require_admin_key(request: Request) -> None:
    """Admin routes: the X-Admin-Key header must hash to TSD_ADMIN_KEY_HASH."""
    stored = request.app.state.settings.admin_key_hash
    if not stored:
        raise HTTPException(403, "admin endpoints are disabled; start the service with TSD_ADMIN_KEY_HASH set "
                                 "(python -m service.security prints a new key and its hash)")
    key = request.headers.get("x-admin-key")
    if key is None or not matches(key, [stored]):
        raise HTTPException(401, "missing or wrong X-Admin-Key header")


def main() -> int:
    """Print a new random key and the hash to put in settings."""
    key = secrets.token_urlsafe(32)
    print(f"key:  {key}\nhash: {hash_key(key)}", file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
