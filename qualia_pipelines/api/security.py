"""API keys and rate limits, in front of every route.

Keys come from configuration (``QUALIA_API_KEYS``). Without keys the API
answers only on loopback addresses: a request that reached a non-loopback
address is refused, so exposing the server by mistake exposes nothing.
Webhooks carry their own HMAC signatures; the docs, the root and ``/health``
stay open for browsers and load balancers.
"""

import hashlib
import hmac
import ipaddress
import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from qualia_pipelines.api.limits import send_json_error

OPEN_PATHS = frozenset({"/", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/health"})
UNLIMITED_PATHS = frozenset({"/health", "/metrics"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AccessControl:
    """``X-API-Key`` check, then a moving-window limit per key (or per client address) with ``Retry-After``."""

    def __init__(self, app: ASGIApp, api_keys: list[str], per_minute: int) -> None:
        self.app = app
        self.keys = [key.encode() for key in api_keys]
        self.limit = RateLimitItemPerMinute(per_minute) if per_minute else None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        given = dict(scope["headers"]).get(b"x-api-key", b"")
        if path not in OPEN_PATHS and not path.startswith("/webhooks/"):
            refusal = self._refusal(scope, given)
            if refusal:
                await send_json_error(send, 401, refusal)
                return
        if self.limit and path not in UNLIMITED_PATHS:
            client = "key:" + hashlib.sha256(given).hexdigest() if given else "ip:" + _client_host(scope)
            if not self.limiter.hit(self.limit, client):
                reset = self.limiter.get_window_stats(self.limit, client).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                message = f"rate limit of {self.limit.amount} requests per minute reached; retry in {wait} s"
                await send_json_error(send, 429, message, [(b"retry-after", str(wait).encode())])
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, given: bytes) -> str | None:
        if not self.keys:
            server = (scope.get("server") or ("", 0))[0]
            if _is_address(server) and not is_loopback(server):
                return "API keys are required on a non-loopback address: configure QUALIA_API_KEYS"
            return None
        if not given:
            return "missing X-API-Key header"
        if not any(hmac.compare_digest(given, key) for key in self.keys):
            return "X-API-Key is not valid"
        return None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _client_host(scope: Scope) -> str:
    return (scope.get("client") or ("unknown", 0))[0]
