"""Fault profiles for the sandbox: an ASGI middleware that makes the providers misbehave.

    none      every request is answered as the provider would
    flaky     ~12% of API requests fail in ways a good client absorbs: 429 bursts with
              and without Retry-After, 500/502/503, connection resets, truncated JSON,
              and now and then a response that hangs past the client's timeout.
              Nothing is lost: a crawl under ``flaky`` must end with the same events.
    hostile   ~45% of requests fail, hangs are long, 429s come in long runs, and ~3% of
              the records that do arrive break the schema (no title, an impossible date).

Only the providers' API paths are affected (not the image route). Faults are drawn
from a seeded generator, one draw per request, so a profile's mix is reproducible.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import attrs
import trio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

PROFILES = ("none", "flaky", "hostile")


@attrs.frozen
class FaultProfile:
    """Probabilities per request of each fault, and how bad the slow ones are."""

    name: str
    rate_limit_retry_after: float = 0.0  # 429 with Retry-After
    rate_limit_bare: float = 0.0  # 429 without Retry-After
    server_error: float = 0.0  # 500/502/503
    reset: float = 0.0  # headers sent, then the connection drops
    truncated: float = 0.0  # 200 with half a JSON body
    hang: float = 0.0  # no answer for ``hang_seconds``
    hang_seconds: float = 0.0
    retry_after_seconds: int = 1
    broken_records: float = 0.0  # share of records whose schema is broken

    def draw(self, rng: random.Random) -> str | None:
        """The fault for one request, or None."""
        roll = rng.random()
        for fault in (
            "rate_limit_retry_after",
            "rate_limit_bare",
            "server_error",
            "reset",
            "truncated",
            "hang",
        ):
            roll -= getattr(self, fault)
            if roll < 0:
                return fault
        return None


_PROFILES = {
    "none": FaultProfile("none"),
    "flaky": FaultProfile(
        "flaky",
        rate_limit_retry_after=0.03,
        rate_limit_bare=0.02,
        server_error=0.03,
        reset=0.015,
        truncated=0.015,
        hang=0.005,
        hang_seconds=8.0,
        retry_after_seconds=1,
    ),
    "hostile": FaultProfile(
        "hostile",
        rate_limit_retry_after=0.08,
        rate_limit_bare=0.08,
        server_error=0.12,
        reset=0.05,
        truncated=0.05,
        hang=0.07,
        hang_seconds=120.0,
        retry_after_seconds=5,
        broken_records=0.03,
    ),
}


def profile(name: str) -> FaultProfile:
    """The named profile; ValueError names the known ones."""
    try:
        return _PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown fault profile {name!r}; known: {', '.join(PROFILES)}") from None


class FaultInjector:
    """Wraps the sandbox app; ``api_prefixes`` are the paths whose requests may fail."""

    def __init__(
        self, app: App, fault_profile: FaultProfile, api_prefixes: tuple[str, ...], *, seed: int = 0
    ) -> None:
        self.app = app
        self.profile = fault_profile
        self.prefixes = api_prefixes
        self.rng = random.Random(f"faults:{fault_profile.name}:{seed}")
        self.injected: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.profile.name == "none"
            or not scope["path"].startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        fault = self.profile.draw(self.rng)
        if fault is not None:
            self.injected[fault] = self.injected.get(fault, 0) + 1
        if fault in ("rate_limit_retry_after", "rate_limit_bare"):
            headers = {"content-type": "application/json"}
            if fault == "rate_limit_retry_after":
                headers["retry-after"] = str(self.profile.retry_after_seconds)
            await _respond(
                send, 429, {"error": {"code": 429, "message": "Too many requests"}}, headers
            )
        elif fault == "server_error":
            status = self.rng.choice((500, 502, 503))
            await _respond(send, status, {"error": {"code": status, "message": "Upstream failure"}})
        elif fault == "hang":
            await trio.sleep(self.profile.hang_seconds)
            await self.app(scope, receive, send)
        elif fault == "reset":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"100000"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"partial": ', "more_body": True})
            raise ConnectionResetError("sandbox fault: connection reset")
        else:
            await self._rewritten(scope, receive, send, truncate=fault == "truncated")

    async def _rewritten(
        self, scope: Scope, receive: Receive, send: Send, *, truncate: bool
    ) -> None:
        """Run the app, then truncate its body or break some of its records."""
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if truncate and start.get("status") == 200:
            body = body[: max(1, len(body) // 2)]
        elif self.profile.broken_records and start.get("status") == 200:
            body = self._break_records(body)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send(
            {"type": "http.response.start", "status": start.get("status", 500), "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})

    def _break_records(self, body: bytes) -> bytes:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return body
        _break(document, self.rng, self.profile.broken_records)
        return json.dumps(document).encode()


def _break(node: Any, rng: random.Random, share: float) -> None:
    """Break the schema of ~``share`` of the records found anywhere in ``node``."""
    if isinstance(node, list):
        for item in node:
            _break(item, rng, share)
        return
    if not isinstance(node, dict):
        return
    is_record = any(k in node for k in ("id", "token")) and any(
        k in node for k in ("name", "title", "displayName")
    )
    if is_record and rng.random() < share:
        for key in ("name", "title", "displayName"):
            if key in node:
                node[key] = "" if rng.random() < 0.5 else None
        return
    for value in node.values():
        _break(value, rng, share)


async def _respond(
    send: Send, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode()
    raw_headers = [
        (k.encode(), v.encode())
        for k, v in (headers or {"content-type": "application/json"}).items()
    ]
    raw_headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": data})
