"""Failed sign-ins, throttled per client: a token bucket per client address.

Each refused credential (an unknown or revoked API key, a bad token) takes a token from its
client's bucket; the bucket holds HITL_AUTH_FAILURES_PER_MINUTE tokens and refills at that rate.
A client with an empty bucket gets 429 with Retry-After before its credential is even looked at,
so guessing runs at the refill rate at most. Only that client waits: successful sign-ins cost
nothing, and every other address keeps its own bucket (no global lockout).

A client is its address; an IPv6 one by its /64 prefix, since one host usually holds a whole /64
and could otherwise take a fresh address per guess. Memory is bounded: a bucket that has refilled
is forgotten, and past `max_clients` the least recently failing client is dropped (it starts
again with a full bucket, as a new client would).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_CLIENTS = 10_000  # about 1 MB of buckets


def client_key(host: str | None) -> str:
    """The bucket a request's client address falls in."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]  # not an IP (a test client, a unix socket): its name, bounded
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class FailureThrottle:
    def __init__(
        self,
        per_minute: int,
        *,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until `client` may try a credential again; None: it may now."""
        bucket = self._refilled(client)
        if bucket is None or bucket.tokens >= 1:
            return None
        return max(1, math.ceil((1 - bucket.tokens) / self.rate))

    def failed(self, client: str) -> None:
        """Charge one refused credential to `client`."""
        bucket = self._refilled(client) or _Bucket(self.capacity, self._clock())
        bucket.tokens = max(0.0, bucket.tokens - 1)
        self._buckets[client] = bucket
        self._buckets.move_to_end(client)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)

    def _refilled(self, client: str) -> _Bucket | None:
        bucket = self._buckets.get(client)
        if bucket is None:
            return None
        now = self._clock()
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= self.capacity:  # as good as new: nothing to remember
            del self._buckets[client]
            return None
        return bucket
