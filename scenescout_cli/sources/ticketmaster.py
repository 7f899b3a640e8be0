"""Ticketmaster Discovery API v2: request building, page parsing, normalisation.

Pure: this module builds ``ApiRequest``s and reads decoded JSON bodies; it never does
I/O. ``sources/http.py`` sends the requests and the discovery stage drives the paging.

Provider facts this module relies on (see the API notes, section 1):

- ``GET {base}/events.json``, the key in the ``apikey`` query parameter (redacted
  wherever URLs are shown: ``secret_params``).
- ``startDateTime``/``endDateTime`` exactly ``YYYY-MM-DDTHH:mm:ssZ``; anything else is a
  400 ``DIS1015``. ``size`` at most 200 (``DIS1036`` above). Deep paging stops at the
  1000th result (``DIS1035``/``DIS1024``), so a next page is only planned while
  ``(page + 1) * size <= 1000``; queries with more results must be split by the planner.
- ``sort=id,asc`` is a strict total order: pages do not overlap or skip under deep paging.
- Two error shapes: the Apigee gateway's ``{"fault": ...}`` (401, 429) and Discovery's
  ``{"errors": [{"code": "DIS####", ...}]}`` (400). The quota fault echoes the key.
- Events: ``_embedded.events`` is absent on an empty page; venue coordinates are JSON
  strings; ``dates.timezone`` is often missing (the venue's is used); the cancelled
  status is spelled both ``canceled`` and ``cancelled``.

TBA/TBD events: requests send ``includeTBA=no`` and ``includeTBD=no`` explicitly (the
documented default with date parameters, contradicted by observation). A query is a time
window and TBA events have no start, so they belong to no window: including them would
repeat them in every window and tile and keep a query's total from shrinking when the
planner splits it. ``normalise`` still accepts TBA records (``date_tba=True``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from typing import Any, ClassVar

import attrs

from ..errors import (
    RecordRejected,
    SourceAuthError,
    SourceError,
    SourceQuotaError,
    SourceRateLimited,
    UpstreamError,
)
from ..model import City, Event, Page, Query, Window
from .base import ApiRequest
from .fields import as_dict as _dict
from .fields import as_list as _list
from .fields import is_int as _is_int
from .fields import number as _number
from .fields import parse_utc as _parse_utc
from .fields import shown as _shown
from .fields import text as _text
from .fields import upper as _upper

__all__ = ["MAX_PAGE_SIZE", "TicketmasterSource", "geohash"]

_SOURCE = "ticketmaster"
#: The largest ``size`` the API accepts (201+ is a 400 ``DIS1036``).
MAX_PAGE_SIZE = 200
_DEEP_PAGING_CAP = 1000
_GEOHASH_PRECISION = 9
_MAX_PROVIDER_TEXT = 300

# --------------------------------------------------------------------------- geohash

_GEOHASH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"


def geohash(lat: float, lon: float, precision: int = _GEOHASH_PRECISION) -> str:
    """The geohash of (``lat``, ``lon``) with ``precision`` characters.

    Standard base-32 geohash (bits interleaved, longitude first). ValueError when the
    point is not on Earth or ``precision`` < 1.
    """
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError(f"not a point on Earth: {lat!r},{lon!r}")
    if precision < 1:
        raise ValueError(f"geohash precision must be at least 1, got {precision}")
    ranges = {"lon": [-180.0, 180.0], "lat": [-90.0, 90.0]}
    values = {"lon": lon, "lat": lat}
    chars: list[str] = []
    bits = 0
    axis = "lon"
    for bit_no in range(precision * 5):
        lo_hi = ranges[axis]
        mid = (lo_hi[0] + lo_hi[1]) / 2
        if values[axis] >= mid:
            bits = bits * 2 + 1
            lo_hi[0] = mid
        else:
            bits = bits * 2
            lo_hi[1] = mid
        axis = "lat" if axis == "lon" else "lon"
        if bit_no % 5 == 4:
            chars.append(_GEOHASH_ALPHABET[bits])
            bits = 0
    return "".join(chars)


# --------------------------------------------------------------------------- adapter


def _check_key(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("the Ticketmaster API key must be a non-empty string")


def _check_page_size(_inst: object, _attr: attrs.Attribute[int], value: int) -> None:
    # A size that divides the cap makes every one of the first 1000 results reachable,
    # so ``page_cap`` is exactly what one query can page through.
    if not (1 <= value <= MAX_PAGE_SIZE and _DEEP_PAGING_CAP % value == 0):
        raise ValueError(
            f"page_size must divide {_DEEP_PAGING_CAP} and be at most {MAX_PAGE_SIZE}, got {value}"
        )


@attrs.frozen
class TicketmasterSource:
    """The Ticketmaster Discovery v2 adapter (a ``SourceAdapter``).

    ``TicketmasterSource(api_key, *, page_size=200)``. The key is never shown in the
    repr, in requests other than its ``apikey`` parameter (declared secret), or in any
    error message. ValueError on an empty key or a ``page_size`` that is above 200 or
    does not divide 1000.

    The cursor is the 0-based page number (None means page 0).
    """

    name: ClassVar[str] = _SOURCE
    page_cap: ClassVar[int] = _DEEP_PAGING_CAP
    rate_per_second: ClassVar[float] = 5.0

    _api_key: str = attrs.field(repr=False, validator=_check_key)
    page_size: int = attrs.field(default=MAX_PAGE_SIZE, kw_only=True, validator=_check_page_size)

    # ------------------------------------------------------------------ planning

    def plan(self, city: City, window: Window) -> list[Query]:
        """One query covering the whole city area over ``window``."""
        return [Query(source=self.name, area=city.area, window=window)]

    def request(self, query: Query, cursor: Any | None) -> ApiRequest:
        """The ``GET /events.json`` request for page ``cursor`` (None → 0) of ``query``.

        The window's start is floored and its end ceiled to whole seconds, so the
        window sent always covers the query's. Naive window datetimes are taken as UTC.
        """
        area = query.area
        params = {
            "apikey": self._api_key,
            "geoPoint": geohash(area.lat, area.lon, _GEOHASH_PRECISION),
            "radius": str(_radius_km(area.radius_km)),
            "unit": "km",
            "startDateTime": _format_utc(query.window.start, ceil=False),
            "endDateTime": _format_utc(query.window.end, ceil=True),
            "size": str(self.page_size),
            "page": str(_page_number(cursor)),
            "sort": "id,asc",
            "includeTBA": "no",
            "includeTBD": "no",
        }
        return ApiRequest(
            method="GET",
            path="/events.json",
            params=params,
            secret_params=frozenset({"apikey"}),
        )

    # ------------------------------------------------------------------ pages

    def parse_page(self, query: Query, cursor: Any | None, status: int, body: Any) -> Page:
        """One response → ``Page(records, next_cursor, total=totalElements)``.

        The next cursor is the next page number when that page exists and still lies
        inside the deep-paging cap (``(page + 1) * size <= 1000``), else None.

        Errors: SourceAuthError (401/403, invalid key), SourceQuotaError (daily quota),
        SourceRateLimited (spike arrest or another 429), UpstreamError (Discovery
        ``DIS####`` errors, 5xx, any other non-2xx, a body of the wrong shape).
        Messages never contain the API key.
        """
        page_no = _page_number(cursor)
        if not 200 <= status < 300 or _looks_like_error(body):
            raise self._error(status, body, page_no)
        records, total, size = self._envelope(body)
        return Page(records, _next_page(page_no, size, total, len(records)), total=total)

    def _envelope(self, body: Any) -> tuple[list[dict[str, Any]], int, int]:
        """(records, totalElements, page size) from a HAL page; UpstreamError otherwise."""
        if not isinstance(body, dict):
            raise _bad_body(f"expected a JSON object, got {type(body).__name__}")
        page = body.get("page")
        if not isinstance(page, dict):
            raise _bad_body("no 'page' object")
        total = page.get("totalElements")
        if not _is_int(total) or total < 0:
            raise _bad_body("'page.totalElements' is not a non-negative integer")
        size = page.get("size")
        if not _is_int(size) or size < 1:
            size = self.page_size
        embedded = body.get("_embedded")
        if embedded is None:  # absent when nothing matches
            return [], total, size
        if not isinstance(embedded, dict):
            raise _bad_body("'_embedded' is not an object")
        events = embedded.get("events", [])
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise _bad_body("'_embedded.events' is not a list of objects")
        return events, total, size

    def _error(self, status: int, body: Any, page_no: int) -> SourceError:
        """The exception for an error response (both shapes), its text scrubbed."""
        fault = _fault(body)
        if fault is not None:
            code, text = (self._scrub(part) for part in fault)
            what = f"HTTP {status} {code}: {text}"
            if status in (401, 403) or any(m in code for m in _AUTH_CODES):
                return SourceAuthError(_SOURCE, f"API key refused ({what})")
            if "QuotaViolation" in code:
                return SourceQuotaError(_SOURCE, f"daily quota used up ({what})")
            if "SpikeArrest" in code or status == 429:
                return SourceRateLimited(_SOURCE, f"rate limited ({what})")
            return UpstreamError(_SOURCE, what)
        if status in (401, 403):
            return SourceAuthError(_SOURCE, f"API key refused (HTTP {status})")
        if status == 429:
            return SourceRateLimited(_SOURCE, "rate limited (HTTP 429)")
        error = _discovery_error(body)
        if error is not None:
            code, detail = (self._scrub(part) for part in error)
            if code in _PAGING_CODES:
                return UpstreamError(
                    _SOURCE,
                    f"HTTP {status} {code}: paging too deep at page {page_no}; one query "
                    f"reaches at most its first {_DEEP_PAGING_CAP} results, so it must be "
                    f"split ({detail})",
                )
            return UpstreamError(_SOURCE, f"HTTP {status} {code}: {detail}")
        if status >= 500:
            return UpstreamError(_SOURCE, f"HTTP {status} server error")
        if 200 <= status < 300:
            return _bad_body("an error object in a successful response")
        return UpstreamError(_SOURCE, f"HTTP {status} with an unexpected body")

    def _scrub(self, text: str) -> str:
        """Provider text made safe for one-line messages: no key, no newlines, short."""
        text = re.sub(re.escape(self._api_key), "[redacted]", text, flags=re.IGNORECASE)
        text = _IDENTIFIER.sub(r"\1[redacted]", text)
        text = _APIKEY_PARAM.sub(r"\1[redacted]", text)
        text = " ".join(text.split())
        if len(text) > _MAX_PROVIDER_TEXT:
            text = text[: _MAX_PROVIDER_TEXT - 1] + "…"
        return text

    # ------------------------------------------------------------------ records

    def record_id(self, record: dict[str, Any]) -> str | None:
        """The event's ``id`` when it is a non-blank string, else None."""
        value = record.get("id")
        if isinstance(value, str) and value.strip():
            return value  # ids are exact and case-sensitive: returned untouched
        return None

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Event:
        """One event record → Event.

        The start is ``dates.start.dateTime`` (UTC) when present, else ``localDate``
        (+ ``localTime``, or the start of that local day) in ``dates.timezone`` or the
        venue's zone. A local time in a DST gap is moved forward by the gap; an
        ambiguous one (fall back) is its first occurrence. A date-only end means the
        end of that local day. TBA/TBD events without a date get ``starts_at=None,
        date_tba=True``.

        RecordRejected reasons: ``missing_id``, ``test_event``, ``missing_title``,
        ``bad_date``, ``unknown_timezone``, ``missing_timezone``, ``missing_start``.
        """
        source_id = self.record_id(record)
        if source_id is None:
            raise RecordRejected("missing_id", "no string 'id'")
        if record.get("test") is True:
            raise RecordRejected("test_event", f"{source_id} is flagged test: true")
        title = _text(record.get("name"))
        if title is None:
            raise RecordRejected("missing_title", "no non-blank 'name'")

        dates = _dict(record.get("dates"))
        venue = _venue(record)
        tz_name, tz = _zone(dates, venue)
        starts_at, date_tba = _start(dates, tz)
        ends_at = _end(dates, tz, starts_at)
        lat, lon = _coords(_dict(venue.get("location")))
        classification = _primary_classification(record)
        price_min, price_max, currency = _prices(record.get("priceRanges"))

        return Event(
            source=self.name,
            source_id=source_id,
            title=title,
            starts_at=starts_at,
            timezone=tz_name,
            ends_at=ends_at,
            date_tba=date_tba,
            description=_text(record.get("description")) or _text(record.get("info")),
            venue_name=_text(venue.get("name")),
            address=_address(_dict(venue.get("address"))),
            locality=_text(_dict(venue.get("city")).get("name")),
            postal_code=_text(venue.get("postalCode")),
            country=_upper(_text(_dict(venue.get("country")).get("countryCode"))),
            lat=lat,
            lon=lon,
            category=_category(classification),
            tags=_tags(classification),
            price_min=price_min,
            price_max=price_max,
            currency=currency,
            is_free=None,  # Ticketmaster has no free flag; absent prices mean unknown
            url=_text(record.get("url")),
            image_url=_image(record.get("images")),
            status=_status(dates),
            raw=record,
        )


# --------------------------------------------------------------------------- requests


def _page_number(cursor: Any | None) -> int:
    return 0 if cursor is None else int(cursor)


def _radius_km(radius_km: float) -> int:
    """The radius as whole kilometres, rounded up so the circle sent covers the area."""
    return max(1, math.ceil(radius_km))


def _format_utc(value: dt.datetime, *, ceil: bool) -> str:
    """``YYYY-MM-DDTHH:mm:ssZ`` in UTC, sub-seconds floored (or ceiled with ``ceil``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    whole = value.replace(microsecond=0)
    if ceil and whole != value:
        whole += dt.timedelta(seconds=1)
    return whole.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- pages

_AUTH_CODES = ("InvalidApiKey", "ApiKeyNotApproved", "app_not_approved", "invalid_client")
_PAGING_CODES = frozenset({"DIS1035", "DIS1024"})
_IDENTIFIER = re.compile(r"(Identifier\s*:\s*)\S+", re.IGNORECASE)
_APIKEY_PARAM = re.compile(r"(apikey=)[^&\s]+", re.IGNORECASE)


def _next_page(page_no: int, size: int, total: int, n_records: int) -> int | None:
    """The next page number if it exists and fits the deep-paging cap, else None."""
    following = page_no + 1
    if n_records == 0 or following * size >= total:
        return None
    if (following + 1) * size > _DEEP_PAGING_CAP:
        return None
    return following


def _looks_like_error(body: Any) -> bool:
    return isinstance(body, dict) and ("fault" in body or "errors" in body)


def _fault(body: Any) -> tuple[str, str] | None:
    """(errorcode, faultstring) of an Apigee fault body, or None."""
    if not isinstance(body, dict) or not isinstance(body.get("fault"), dict):
        return None
    fault = body["fault"]
    code = _dict(fault.get("detail")).get("errorcode")
    text = fault.get("faultstring")
    return (
        code if isinstance(code, str) else "unknown fault",
        text if isinstance(text, str) else "",
    )


def _discovery_error(body: Any) -> tuple[str, str] | None:
    """(code, detail) of the first Discovery error, or None."""
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return None
    for error in body["errors"]:
        if isinstance(error, dict):
            code, detail = error.get("code"), error.get("detail")
            return (
                code if isinstance(code, str) else "unknown error",
                detail if isinstance(detail, str) else "",
            )
    return None


def _bad_body(what: str) -> UpstreamError:
    return UpstreamError(_SOURCE, f"unexpected response body: {what}")


# --------------------------------------------------------------------------- records

_TBA_FLAGS = ("dateTBA", "dateTBD", "timeTBA")
_STATUSES = {
    "onsale": "scheduled",
    "offsale": "scheduled",
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "postponed": "postponed",
    "rescheduled": "rescheduled",
}
_PLACEHOLDERS = frozenset({"undefined", "other"})
_SEGMENT_CATEGORIES = {
    "music": "music",
    "sports": "sports",
    "film": "film",
    "miscellaneous": "other",
}
_ARTS_GENRES = frozenset(
    {"fine art", "performance art", "dance", "multimedia", "cultural", "literary", "fashion"}
)


# ---- time


def _venue(record: dict[str, Any]) -> dict[str, Any]:
    """The first embedded venue, or ``place`` when there is no venue."""
    venues = _list(_dict(record.get("_embedded")).get("venues"))
    if venues and isinstance(venues[0], dict):
        return venues[0]
    return _dict(record.get("place"))


def _zone(
    dates: dict[str, Any], venue: dict[str, Any]
) -> tuple[str | None, zoneinfo.ZoneInfo | None]:
    """The event's IANA zone: ``dates.timezone``, else the venue's; (None, None) if neither."""
    name = _text(dates.get("timezone")) or _text(venue.get("timezone"))
    if name is None:
        return None, None
    try:
        return name, zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise RecordRejected("unknown_timezone", f"{_shown(name)} is not an IANA zone") from None


def _start(dates: dict[str, Any], tz: zoneinfo.ZoneInfo | None) -> tuple[dt.datetime | None, bool]:
    """(start instant, date_tba); RecordRejected when there is no start and no TBA flag."""
    start = _dict(dates.get("start"))
    instant = _instant(start, tz, "dates.start", day_end=False)
    if instant is not None:
        return instant, False
    if any(start.get(flag) is True for flag in _TBA_FLAGS):
        return None, True
    raise RecordRejected(
        "missing_start", "no dates.start.dateTime or localDate and not flagged TBA/TBD"
    )


def _end(
    dates: dict[str, Any], tz: zoneinfo.ZoneInfo | None, starts_at: dt.datetime | None
) -> dt.datetime | None:
    """The end instant from ``dates.end``; None when absent or before the start."""
    end = _instant(_dict(dates.get("end")), tz, "dates.end", day_end=True)
    if end is not None and starts_at is not None and end < starts_at:
        return None
    return end


def _instant(
    part: dict[str, Any], tz: zoneinfo.ZoneInfo | None, where: str, *, day_end: bool
) -> dt.datetime | None:
    """The UTC instant of a ``dates.start``/``dates.end`` object, or None if it has no date.

    Date-only values mean the start of that local day, or with ``day_end`` its end.
    """
    if part.get("dateTime") is not None:
        return _parse_utc(part["dateTime"], f"{where}.dateTime")
    if part.get("localDate") is None:
        return None
    day = _parse_date(part["localDate"], f"{where}.localDate")
    if tz is None:
        raise RecordRejected(
            "missing_timezone", f"{where}.localDate with neither dates.timezone nor a venue zone"
        )
    try:
        if part.get("localTime") is None:
            if day_end:
                day += dt.timedelta(days=1)
            local = dt.datetime.combine(day, dt.time(), tzinfo=tz)
        else:
            clock = _parse_time(part["localTime"], f"{where}.localTime")
            local = dt.datetime.combine(day, clock, tzinfo=tz)
        # fold=0: a time in a DST gap takes the offset before the gap (so it moves
        # forward by the gap); an ambiguous time is its first occurrence.
        return local.astimezone(dt.UTC)
    except OverflowError:
        raise RecordRejected("bad_date", f"{where} is out of range") from None


def _parse_date(value: Any, where: str) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise RecordRejected("bad_date", f"{where} {_shown(value)} is not YYYY-MM-DD")


def _parse_time(value: Any, where: str) -> dt.time:
    if isinstance(value, str):
        try:
            parsed = dt.time.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return parsed
    raise RecordRejected("bad_date", f"{where} {_shown(value)} is not HH:mm:ss")


# ---- place


def _address(address: dict[str, Any]) -> str | None:
    lines = [_text(address.get(key)) for key in ("line1", "line2")]
    return ", ".join(line for line in lines if line) or None


def _coords(location: dict[str, Any]) -> tuple[float | None, float | None]:
    """(lat, lon) from string or number coordinates; (None, None) if missing or invalid.

    (0, 0) is a placeholder, not a venue in the Gulf of Guinea.
    """
    lat, lon = _number(location.get("latitude")), _number(location.get("longitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    if lat == 0 and lon == 0:
        return None, None
    return lat, lon


# ---- presentation


def _status(dates: dict[str, Any]) -> str:
    code = _text(_dict(dates.get("status")).get("code"))
    return _STATUSES.get(code.casefold(), "scheduled") if code else "scheduled"


def _image(images: Any) -> str | None:
    """The largest non-fallback image's URL, 16:9 preferred; None if only fallbacks."""
    usable = [
        image
        for image in _list(images)
        if isinstance(image, dict)
        and image.get("fallback") not in (True, "true")
        and _text(image.get("url"))
    ]
    wide = [image for image in usable if image.get("ratio") == "16_9"]
    pool = wide or usable
    if not pool:
        return None
    return _text(max(pool, key=_image_area).get("url"))


def _image_area(image: dict[str, Any]) -> int:
    width, height = image.get("width"), image.get("height")
    return width * height if _is_int(width) and _is_int(height) else 0


def _primary_classification(record: dict[str, Any]) -> dict[str, Any]:
    items = [c for c in _list(record.get("classifications")) if isinstance(c, dict)]
    return next((c for c in items if c.get("primary") is True), items[0] if items else {})


def _level(classification: dict[str, Any], level: str) -> str | None:
    """A classification level's name, None for placeholders ("Undefined", "Other")."""
    name = _text(_dict(classification.get(level)).get("name"))
    return None if name is None or name.casefold() in _PLACEHOLDERS else name


def _tags(classification: dict[str, Any]) -> tuple[str, ...]:
    names = (_level(classification, key) for key in ("segment", "genre", "subGenre"))
    return tuple(dict.fromkeys(name for name in names if name))


def _category(classification: dict[str, Any]) -> str | None:
    """A DESIGN category from the primary classification; None when it says nothing."""
    if classification.get("family") is True:
        return "family"
    segment = _level(classification, "segment")
    if segment is None:
        return None
    if segment.casefold() == "arts & theatre":
        genre = (_level(classification, "genre") or "").casefold()
        if genre == "comedy":
            return "comedy"
        return "arts" if genre in _ARTS_GENRES else "theater"
    return _SEGMENT_CATEGORIES.get(segment.casefold())


def _prices(ranges: Any) -> tuple[float | None, float | None, str | None]:
    """(min, max, currency) over the price ranges in the first range's currency."""
    items = [r for r in _list(ranges) if isinstance(r, dict)]
    if not items:
        return None, None, None
    currency = _upper(_text(items[0].get("currency")))
    same = [r for r in items if _upper(_text(r.get("currency"))) == currency]
    lows = [n for r in same if (n := _number(r.get("min"))) is not None and n >= 0]
    highs = [n for r in same if (n := _number(r.get("max"))) is not None and n >= 0]
    low, high = (min(lows) if lows else None), (max(highs) if highs else None)
    if low is None and high is None:
        return None, None, None
    return low, high, currency
