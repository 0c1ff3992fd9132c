"""API keys (Bearer) and the admin key, stored as SHA-256 hashes and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys

from fastapi import Request

from service.errors import ServiceError


class Unauthorized(ServiceError):
    """No key, or a key that no stored hash matches."""

    status = 401

    def __init__(self, message: str, challenge: str | None = "Bearer"):
        super().__init__(message)
        self.challenge = challenge

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": self.challenge} if self.challenge else None


class AdminDisabled(ServiceError):
    """The admin routes are off until an admin key hash is configured."""

    status = 403


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


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def caller_identity(authorization: str | None, client_host: str | None, hashes: list[str]) -> str:
    """Who is calling, for rate limits: the key's hash, or the client address when no keys are configured;
    raises Unauthorized for a missing or unknown key."""
    if not hashes:
        return f"client:{client_host or 'unknown'}"
    token = bearer_token(authorization or "")
    if token is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    if not matches(token, hashes):
        raise Unauthorized("API key not recognised")
    return "key:" + hash_key(token)[:12]


async def require_api_key(request: Request) -> str:
    """Dependency for the describe routes (the ApiKeyGate middleware has already refused bad keys unread)."""
    hashes = request.app.state.service.settings.api_key_hashes
    return caller_identity(request.headers.get("authorization"), request.client.host if request.client else None, hashes)


async def require_admin_key(request: Request) -> None:
    """Admin routes: the X-Admin-Key header must hash to TSD_ADMIN_KEY_HASH."""
    stored = request.app.state.service.settings.admin_key_hash
    if not stored:
        raise AdminDisabled("admin endpoints are disabled; start the service with TSD_ADMIN_KEY_HASH set "
                            "(python -m service.security prints a new key and its hash)")
    key = request.headers.get("x-admin-key")
    if key is None or not matches(key, [stored]):
        raise Unauthorized("missing or wrong X-Admin-Key header", challenge=None)


def main() -> int:
    """Print a new random key and the hash to put in settings."""
    key = secrets.token_urlsafe(32)
    print(f"key:  {key}\nhash: {hash_key(key)}", file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
