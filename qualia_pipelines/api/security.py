"""API keys, rate limits and browser safety, in front of every route.

Keys come from configuration (``QUALIA_API_KEYS``). Without keys the API
answers only on loopback addresses: a request that reached a non-loopback
address is refused, so exposing the server by mistake exposes nothing. A
keyless server also answers only requests whose ``Host`` names loopback or the
server itself, so a web page cannot reach it through DNS rebinding. Whatever
the keys, a browser's cross-site request that would change something (a POST
from another origin: ``text/plain`` JSON and multipart need no preflight) is
refused unless its origin is configured in ``cors_origins``.

Every request is counted before its key is judged: with a valid key against
that key's allowance, otherwise against the client address's, and a wrong or
missing key also against the address's allowance of failed keys, after which
the address gets 429 before any key is compared. Webhooks carry their own HMAC
signatures; the docs, the root and ``/health`` (status only without a key when
keys are set) stay open for browsers and load balancers.
"""

import hashlib
import hmac
import ipaddress
import math
import time
from urllib.parse import urlsplit

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from qualia_pipelines.api.limits import send_json_error

OPEN_PATHS = frozenset({"/", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/health"})
UNLIMITED_PATHS = frozenset({"/health", "/metrics"})
FAILED_KEYS_PER_MINUTE = 10
"""Wrong or missing keys one client address may send in a minute before it is refused outright."""
AUTHENTICATED = "qualia_authenticated"
"""Set in the request's state: whether it carried a valid key (always True on a keyless server)."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class AccessControl:
    """Host and origin checks, the ``X-API-Key`` check and moving-window limits, with ``Retry-After``."""

    def __init__(self, app: ASGIApp, api_keys: list[str], per_minute: int, allowed_origins: list[str]) -> None:
        self.app = app
        self.keys = [key.encode() for key in api_keys]
        self.limit = RateLimitItemPerMinute(per_minute) if per_minute else None
        self.failures = RateLimitItemPerMinute(FAILED_KEYS_PER_MINUTE)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.allowed_origins = frozenset(origin.rstrip("/") for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refusal = self._browser_refusal(scope, headers)
        if refusal:
            await send_json_error(send, 403, refusal)
            return
        if scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        given = headers.get(b"x-api-key", b"")
        address = "ip:" + _client_host(scope)
        needs_key = path not in OPEN_PATHS and not path.startswith("/webhooks/")
        if needs_key and self.keys and not self.limiter.test(self.failures, address):
            # no key is compared for an address that guessed too often: a right one would stand out
            await self._too_many(send, self.failures, address, "requests with a missing or wrong X-API-Key")
            return
        valid = self._valid(given)
        scope.setdefault("state", {})[AUTHENTICATED] = valid or not self.keys
        if needs_key and self.keys and not valid:
            self.limiter.hit(self.failures, address)
        if self.limit and path not in UNLIMITED_PATHS:
            client = "key:" + hashlib.sha256(given).hexdigest() if valid else address
            if not self.limiter.hit(self.limit, client):
                await self._too_many(send, self.limit, client, "requests")
                return
        key_refusal = self._key_refusal(scope, given, valid) if needs_key else None
        if key_refusal:
            await send_json_error(send, 401, key_refusal)
            return
        await self.app(scope, receive, send)

    def _valid(self, given: bytes) -> bool:
        return bool(given) and any(hmac.compare_digest(given, key) for key in self.keys)

    def _key_refusal(self, scope: Scope, given: bytes, valid: bool) -> str | None:
        if not self.keys:
            server = _server_host(scope)
            if _is_address(server) and not is_loopback(server):
                return "API keys are required on a non-loopback address: configure QUALIA_API_KEYS"
            return None
        if not given:
            return "missing X-API-Key header"
        return None if valid else "X-API-Key is not valid"

    def _browser_refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        """Why a browser must not get through: a foreign Host on a keyless server (DNS rebinding), or a
        cross-site request that changes something."""
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.keys and not self._local_host(scope, host):
            return f"Host {host!r} is not this server's: a server without API keys answers only loopback names"
        if scope["method"] in _SAFE_METHODS:
            return None
        origin = headers.get(b"origin", b"").decode("latin-1").rstrip("/")
        if origin and origin != "null" and (origin in self.allowed_origins or _same_origin(origin, host)):
            return None
        cross_site = headers.get(b"sec-fetch-site", b"") == b"cross-site"
        if origin or cross_site:
            shown = origin or "(hidden)"
            return f"cross-site {scope['method']} from origin {shown!r} refused; allow it in cors_origins"
        return None

    @staticmethod
    def _local_host(scope: Scope, host: str) -> bool:
        name = urlsplit(f"//{host}").hostname or ""
        return not host or is_loopback(name) or name == _server_host(scope).strip("[]").lower()

    async def _too_many(self, send: Send, limit: RateLimitItem, client: str, what: str) -> None:
        reset = self.limiter.get_window_stats(limit, client).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        message = f"rate limit of {limit.amount} {what} per minute reached; retry in {wait} s"
        await send_json_error(send, 429, message, [(b"retry-after", str(wait).encode())])


def _same_origin(origin: str, host: str) -> bool:
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _server_host(scope: Scope) -> str:
    return (scope.get("server") or ("", 0))[0] or ""


def _client_host(scope: Scope) -> str:
    return (scope.get("client") or ("unknown", 0))[0]
