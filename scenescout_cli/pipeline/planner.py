"""Query planning: the crawl's window, and splitting a query that exceeds a paging cap.

Pure functions. A query whose result count exceeds its source's cap is split —
time first (halves), then space (four overlapping quarter circles) — until every
query fits, so coverage is complete. Overlaps only repeat records, which the
pipeline recognises by (source, source_id).

Learning that a query is too large costs its first page. ``SplitMemory`` holds the
queries recent crawls of the city had to split: a query that holds one of them, in
time and in space, is too large as surely as it was (counts only grow with the
query), so discovery splits it without asking.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable

from ..model import Area, Query, Window

#: Below this window length a query is split in space instead of time. Time first, as
#: far as starts spread: a space split covers its circle with four overlapping ones
#: (twice the area), so each level of it fetches the overlap's events twice.
MIN_WINDOW = dt.timedelta(minutes=10)
#: Below this radius a query is not split further (its overflow is reported as capped).
MIN_RADIUS_KM = 0.25


def crawl_window(now: dt.datetime, days: int) -> Window:
    """From ``now`` (aware) to ``days`` days later, both in UTC, whole seconds."""
    start = now.astimezone(dt.UTC).replace(microsecond=0)
    return Window(start=start, end=start + dt.timedelta(days=days))


def can_split(query: Query) -> bool:
    """Whether ``query`` can still be made smaller."""
    w = query.window
    return (w.end - w.start) > MIN_WINDOW or query.area.radius_km > MIN_RADIUS_KM


def split_query(query: Query) -> list[Query]:
    """Two halves of the window, or — once the window is short — four quarter circles.

    The quarters are circles of radius r/√2 centred on the quadrant centres of the
    square around the original circle, so together they cover it entirely.
    """
    w = query.window
    if (w.end - w.start) > MIN_WINDOW:
        middle = w.start + (w.end - w.start) / 2
        middle = middle.replace(microsecond=0)
        return [
            Query(query.source, query.area, Window(w.start, middle), query.target),
            Query(query.source, query.area, Window(middle, w.end), query.target),
        ]
    return [Query(query.source, area, w, query.target) for area in quarter_areas(query.area)]


#: slack when one area holds another: keys round centres to ~1 m and radii to 6 digits
_HOLDS_SLACK_KM = 0.005


class SplitMemory:
    """The queries earlier crawls had to split (they were over their source's cap),
    and whether a new query holds one of them (``must_split``).

    Split queries are kept by (source, target) in order of their start; a query is
    checked against those starting within its window. The world changes between
    crawls: a query that shrank below the cap since is split all the same, which
    costs its parts' first pages (one request more than its own page would have).
    """

    def __init__(self, split: Iterable[Query] = ()) -> None:
        self._by_kind: dict[tuple[str, str | None], list[tuple[dt.datetime, Query]]] = {}
        for query in split:
            self._by_kind.setdefault((query.source, query.target), []).append(
                (query.window.start, query)
            )
        for queries in self._by_kind.values():
            queries.sort(key=lambda pair: pair[0])

    @classmethod
    def from_keys(cls, keys: Iterable[str]) -> SplitMemory:
        """From stored query keys (``Query.key``); a key it cannot read is left out."""
        queries = []
        for key in keys:
            try:
                queries.append(Query.from_key(key))
            except ValueError:
                continue
        return cls(queries)

    def __len__(self) -> int:
        return sum(len(queries) for queries in self._by_kind.values())

    def must_split(self, query: Query) -> bool:
        """Whether ``query`` holds, in window and area, a query that was split."""
        queries = self._by_kind.get((query.source, query.target))
        if not queries:
            return False
        window = query.window
        first = bisect.bisect_left(queries, window.start, key=lambda pair: pair[0])
        for start, split in queries[first:]:
            if start >= window.end:
                break
            if split.window.end <= window.end and _holds(query.area, split.area):
                return True
        return False


def _holds(outer: Area, inner: Area) -> bool:
    distance = haversine_km(outer.lat, outer.lon, inner.lat, inner.lon)
    return distance + inner.radius_km <= outer.radius_km + _HOLDS_SLACK_KM


def quarter_areas(area: Area) -> list[Area]:
    """Four circles that together cover ``area``: north-west, north-east, south-west, south-east.

    Each centre lies r/√2 from the parent's centre on the quadrant's diagonal, on the
    sphere (so the layout holds at any latitude and across ±180°), and each radius
    reaches the farthest point of its quadrant — about r/√2, a little more for large
    areas far from the equator.
    """
    radius = area.radius_km
    quarters = []
    for bearing in (315.0, 45.0, 225.0, 135.0):
        lat, lon = _destination(area.lat, area.lon, bearing, radius / math.sqrt(2))
        # the quadrant's farthest points lie on its arc of the parent's edge and on its
        # two bounding radii; sample both and keep a hair of margin for the gaps
        reach = 0.0
        for step in range(_QUADRANT_SAMPLES + 1):
            edge_bearing = bearing - 45.0 + 90.0 * step / _QUADRANT_SAMPLES
            for fraction in (0.5, 1.0):
                plat, plon = _destination(area.lat, area.lon, edge_bearing, radius * fraction)
                reach = max(reach, haversine_km(lat, lon, plat, plon))
        reach = max(reach, haversine_km(lat, lon, area.lat, area.lon))
        quarters.append(Area(lat, lon, reach * (1 + 1e-3)))
    return quarters


_QUADRANT_SAMPLES = 16
_EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _destination(
    lat: float, lon: float, bearing_deg: float, distance_km: float
) -> tuple[float, float]:
    """The point ``distance_km`` from (lat, lon) on the initial bearing; lon in [-180, 180)."""
    p1, l1 = math.radians(lat), math.radians(lon)
    theta = math.radians(bearing_deg)
    delta = distance_km / _EARTH_RADIUS_KM
    p2 = math.asin(
        math.sin(p1) * math.cos(delta) + math.cos(p1) * math.sin(delta) * math.cos(theta)
    )
    l2 = l1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(p1),
        math.cos(delta) - math.sin(p1) * math.sin(p2),
    )
    lon2 = (math.degrees(l2) + 180.0) % 360.0 - 180.0
    return max(-90.0, min(90.0, math.degrees(p2))), lon2
