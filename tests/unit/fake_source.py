"""A tiny provider for pipeline tests: its API is served by ``FakeApi`` over MockTransport.

Records have ``id``, ``name`` and ``start`` (ISO UTC). The API filters by the
query's window, pages by ``page``/``size``, and reports the window's total, so the
planner's splitting is exercised against a real cap.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from typing import Any, ClassVar

import attrs
import httpx
import trio

from scenescout_cli.errors import RecordRejected, SourceAuthError, UpstreamError
from scenescout_cli.model import Area, City, Event, Page, Query, Window
from scenescout_cli.sources.base import ApiRequest

CITY = City("testville", "Testville", Area(10.0, 10.0, 5.0), "UTC", "XX")
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


class FakeAdapter:
    name: ClassVar[str] = "ticketmaster"
    page_cap: ClassVar[int] = 30
    rate_per_second: ClassVar[float] = 1000.0
    page_size = 10

    def plan(self, city: City, window: Window) -> list[Query]:
        return [Query(self.name, city.area, window)]

    def request(self, query: Query, cursor: Any | None) -> ApiRequest:
        return ApiRequest(
            "GET",
            "/events",
            params={
                "start": query.window.start.isoformat(),
                "end": query.window.end.isoformat(),
                "page": str(cursor or 0),
                "size": str(self.page_size),
                "key": "SECRET",
            },
            secret_params=frozenset({"key"}),
        )

    def parse_page(self, query: Query, cursor: Any | None, status: int, body: Any) -> Page:
        if status == 401:
            raise SourceAuthError(self.name, "key refused")
        if status != 200:
            raise UpstreamError(self.name, f"HTTP {status}")
        page = int(cursor or 0)
        total = body["total"]
        more = (page + 1) * self.page_size < min(total, self.page_cap)
        return Page(body["records"], page + 1 if more else None, total)

    def record_id(self, record: dict[str, Any]) -> str | None:
        return record.get("id")

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Event:
        if not record.get("name"):
            raise RecordRejected("missing_title", "no name")
        return Event(
            source=self.name,
            source_id=record["id"],
            title=record["name"],
            starts_at=dt.datetime.fromisoformat(record["start"]),
            timezone="UTC",
            raw=record,
        )


@attrs.define
class FakeApi:
    """Serves ``records`` (sorted by start) like a paging provider with a total."""

    records: list[dict[str, Any]]
    status: int = 200
    requests: list[httpx.Request] = attrs.field(factory=list)
    _starts: list[str] | None = None

    @classmethod
    def spread(cls, count: int, hours: int = 24 * 30, bad: int = 0) -> FakeApi:
        step = hours * 3600 / count
        records = [
            {
                "id": f"ev{i:05d}",
                "name": "" if i < bad else f"Event {i}",
                "start": (T0 + dt.timedelta(seconds=int(i * step))).isoformat(),
            }
            for i in range(count)
        ]
        return cls(records)

    def starts(self) -> list[str]:
        """The records' starts; ISO UTC strings of one format sort as instants."""
        if self._starts is None:
            self._starts = [r["start"] for r in self.records]
        return self._starts

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await trio.lowlevel.checkpoint()
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "nope"})
        params = request.url.params
        start = dt.datetime.fromisoformat(params["start"])
        end = dt.datetime.fromisoformat(params["end"])
        page, size = int(params["page"]), int(params["size"])
        starts = self.starts()
        lo = bisect.bisect_left(starts, start.isoformat())
        hi = bisect.bisect_left(starts, end.isoformat())
        hits = self.records[lo:hi]
        body = {"total": len(hits), "records": hits[page * size : (page + 1) * size]}
        return httpx.Response(200, content=json.dumps(body).encode())
