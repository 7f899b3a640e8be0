"""Query planning: the crawl's window, and splitting a query that exceeds a paging cap.

Pure functions. A query whose result count exceeds its source's cap is split —
time first (halves), then space (four overlapping quarter circles) — until every
query fits, so coverage is complete. Overlaps only repeat records, which the
pipeline recognises by (source, source_id).
"""

from __future__ import annotations

import datetime as dt
import math

from ..model import Area, Query, Window

#: Below this window length a query is split in space instead of time.
MIN_WINDOW = dt.timedelta(hours=1)
#: Below this radius a query is not split further (its overflow is reported as capped).
MIN_RADIUS_KM = 0.25

_KM_PER_DEGREE_LAT = 111.32


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
            Query(query.source, query.area, Window(w.start, middle)),
            Query(query.source, query.area, Window(middle, w.end)),
        ]
    return [Query(query.source, area, w) for area in quarter_areas(query.area)]


def quarter_areas(area: Area) -> list[Area]:
    """Four circles that together cover ``area``."""
    half = area.radius_km / 2
    dlat = half / _KM_PER_DEGREE_LAT
    dlon = half / (_KM_PER_DEGREE_LAT * max(math.cos(math.radians(area.lat)), 1e-6))
    radius = area.radius_km / math.sqrt(2)
    return [
        Area(area.lat + sy * dlat, area.lon + sx * dlon, radius)
        for sy in (1, -1)
        for sx in (-1, 1)
    ]
