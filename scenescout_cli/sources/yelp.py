"""Yelp Events API (Fusion v3, now "Yelp Places"): request building, page parsing, normalisation.

Pure: this module builds ``ApiRequest``s and reads decoded JSON bodies; it never does
I/O. ``sources/http.py`` sends the requests and the discovery stage drives the paging.

Provider facts this module relies on (see the API notes, section 3):

- ``GET {base}/events`` (not ``/events/search``), the key as ``Authorization: Bearer``,
  so it never appears in a URL.
- ``latitude``/``longitude`` with ``radius`` in metres, at most 40 000 (above:
  ``AREA_TOO_LARGE``); ``start_date``/``end_date`` are Unix seconds; ``limit`` at most 50.
- Paging by ``offset``; ``offset + limit`` must stay within 1000 (the deep-paging cap;
  UNCERTAIN for events, assumed as for business search), so a query with more results
  must be split by the planner.
- Errors are ``{"error": {"code": ..., "description": ...}}``; both the per-second
  limit (``TOO_MANY_REQUESTS_PER_SECOND``) and the daily one (``ACCESS_LIMIT_REACHED``)
  are 429s, told apart by the code.
- Events: ``time_start``/``time_end`` are ISO-8601 with a UTC offset in Yelp's examples
  but documented as ``"YYYY-MM-DD HH:mm"`` local time — both are parsed; ``time_end``
  may be null; coordinates are numbers; ``cost``/``cost_max`` are major units without a
  currency; there is no venue name, only ``location`` and a ``business_id``.

Decisions where the notes are UNCERTAIN or silent:

- **Tiling.** A city wider than 40 km in radius is covered by quarter circles
  (``planner.quarter_areas``), quartered again until each is at most 40 km. Tiles
  overlap; the pipeline de-duplicates by (source, source_id).
- **end_date** is sent as the window's end. Yelp's wording is either "events that end
  at or before" or "upper bound of the start" (UNCERTAIN); under the first reading an
  event starting in the window and ending after it is missed. The time order
  (``sort_on=time_start``, ``sort_by=asc``) keeps offsets stable while paging.
- **Naive local times** ("2026-12-05 20:00") are read in the record's own zone: its
  ``timezone`` field when it carries one (Yelp documents none, so usually absent),
  else the UTC offset of the record's other timestamp (same event, same place). A
  naive start with neither takes the zone of its coordinates (offline lookup), and
  without coordinates is rejected as ``missing_timezone``; a naive end with
  neither is dropped. Zones from coordinates are resolved later in the pipeline,
  and ``Event.timezone`` is None unless the record names an IANA zone.
- **Venue name** is None: Yelp gives none, and a street line is not a venue name.
  ``business_id`` stays in the raw record for later matching.
- **Currency** is not given: prices are taken to be in the local currency of the
  event's country (``location.country``), None for countries not in the table.
- **URL** is ``event_site_url`` without Yelp's tracking parameters (``adjust_creative``
  and ``utm_*`` carry the API client's id), else ``tickets_url``.
- **Rate.** Yelp's per-second limit depends on the plan and is not published; 5 per
  second is a conservative default. The daily quota (300 calls on the trial plan) is
  the real constraint, reported as ``SourceQuotaError`` when reached.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from ..enrich.timezones import zone_for
from ..errors import (
    ConfigError,
    RecordRejected,
    SourceAuthError,
    SourceError,
    SourceQuotaError,
    SourceRateLimited,
    UpstreamError,
)
from ..model import Area, City, Event, Page, Query, Window
from ..pipeline.planner import quarter_areas
from .base import ApiRequest
from .fields import as_dict as _dict
from .fields import is_int as _is_int
from .fields import number as _number
from .fields import shown as _shown
from .fields import text as _text
from .fields import upper as _upper

__all__ = ["MAX_PAGE_SIZE", "MAX_RADIUS_KM", "YelpSource", "tiles"]

_SOURCE = "yelp"
#: The largest ``radius`` the API accepts, in km (40 000 m).
MAX_RADIUS_KM = 40.0
#: The largest ``limit`` the API accepts.
MAX_PAGE_SIZE = 50
_DEEP_PAGING_CAP = 1000
_MAX_PROVIDER_TEXT = 300


def tiles(area: Area, max_radius_km: float = MAX_RADIUS_KM) -> list[Area]:
    """Circles of radius at most ``max_radius_km`` that together cover ``area``.

    ``area`` itself when it is small enough, else its quarter circles, each tiled the
    same way (north-west, north-east, south-west, south-east, depth first).
    """
    if area.radius_km <= max_radius_km:
        return [area]
    return [tile for quarter in quarter_areas(area) for tile in tiles(quarter, max_radius_km)]


# --------------------------------------------------------------------------- adapter


def _check_key(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("YELP_API_KEY must be a non-empty string")


@attrs.frozen
class YelpSource:
    """The Yelp Events adapter (a ``SourceAdapter``).

    ``YelpSource(api_key)``. The key is sent only in the ``Authorization`` header and
    never appears in the repr or in any error message. ConfigError on a blank key.

    The cursor is the ``offset`` of the next page (None means 0).
    """

    name: ClassVar[str] = _SOURCE
    page_cap: ClassVar[int] = _DEEP_PAGING_CAP
    rate_per_second: ClassVar[float] = 5.0

    _api_key: str = attrs.field(repr=False, validator=_check_key)

    # ------------------------------------------------------------------ planning

    def plan(self, city: City, window: Window) -> list[Query]:
        """Queries over tiles of at most 40 km radius that cover the city, over ``window``."""
        return [Query(source=self.name, area=tile, window=window) for tile in tiles(city.area)]

    def request(self, query: Query, cursor: Any | None) -> ApiRequest:
        """The ``GET /events`` request for the page at offset ``cursor`` (None → 0).

        ``limit`` is 50, less when needed to keep ``offset + limit`` within 1000. The
        radius is sent in whole metres rounded up (capped at 40 000: ``plan`` and the
        planner's splits never make larger tiles); the window's start is floored and
        its end ceiled to whole Unix seconds. Naive window datetimes are taken as UTC.
        ValueError for an offset at or past the cap (``parse_page`` never returns one).
        """
        offset = _offset(cursor)
        limit = min(MAX_PAGE_SIZE, _DEEP_PAGING_CAP - offset)
        if limit < 1:
            raise ValueError(f"offset {offset} is past Yelp's {_DEEP_PAGING_CAP}-result cap")
        area = query.area
        params = {
            "latitude": f"{area.lat:.6f}",
            "longitude": f"{area.lon:.6f}",
            "radius": str(_radius_m(area.radius_km)),
            "start_date": str(_unix(query.window.start, ceil=False)),
            "end_date": str(_unix(query.window.end, ceil=True)),
            "sort_on": "time_start",
            "sort_by": "asc",
            "limit": str(limit),
            "offset": str(offset),
        }
        return ApiRequest(
            method="GET",
            path="/events",
            params=params,
            headers={"Authorization": f"Bearer {self._api_key}"},
        )

    # ------------------------------------------------------------------ pages

    def parse_page(self, query: Query, cursor: Any | None, status: int, body: Any) -> Page:
        """One response → ``Page(records, next_cursor, total=total)``.

        The next cursor is ``offset + len(records)`` while that is below both ``total``
        and 1000 and the page had records, else None.

        Errors: SourceAuthError (401/403, ``TOKEN_INVALID``, ``TOKEN_MISSING``,
        ``UNAUTHORIZED_ACCESS_TOKEN``), SourceQuotaError (``ACCESS_LIMIT_REACHED``),
        SourceRateLimited (``TOO_MANY_REQUESTS_PER_SECOND`` or another 429),
        UpstreamError with ``status`` and ``code`` (``VALIDATION_ERROR``,
        ``AREA_TOO_LARGE``, 5xx, any other non-2xx, a body of the wrong shape).
        Messages never contain the key.
        """
        offset = _offset(cursor)
        if not 200 <= status < 300 or _looks_like_error(body):
            raise self._error(status, body)
        records, total = _envelope(body)
        following = offset + len(records)
        if not records or following >= min(total, _DEEP_PAGING_CAP):
            return Page(records, None, total=total)
        return Page(records, following, total=total)

    def _error(self, status: int, body: Any) -> SourceError:
        """The exception for an error response, its text scrubbed."""
        code, text = (self._scrub(part) for part in _error_fields(body))
        what = f"HTTP {status} {code}: {text}" if code else f"HTTP {status}"
        error_code = code or None
        if code == "ACCESS_LIMIT_REACHED":
            return SourceQuotaError(_SOURCE, f"daily quota used up ({what})")
        if status in (401, 403) or code in _AUTH_CODES:
            return SourceAuthError(_SOURCE, f"API key refused ({what})")
        if status == 429 or code == "TOO_MANY_REQUESTS_PER_SECOND":
            return SourceRateLimited(_SOURCE, f"rate limited ({what})")
        if status >= 500:
            return UpstreamError(_SOURCE, f"server error ({what})", status=status, code=error_code)
        if 200 <= status < 300:
            return UpstreamError(
                _SOURCE,
                f"an error object in a successful response ({what})",
                status=status,
                code=error_code,
            )
        return UpstreamError(_SOURCE, what, status=status, code=error_code)

    def _scrub(self, text: str) -> str:
        """Provider text made safe for one-line messages: no key, no newlines, short."""
        text = re.sub(re.escape(self._api_key), "[redacted]", text, flags=re.IGNORECASE)
        text = _BEARER.sub(r"\1[redacted]", text)
        text = " ".join(text.split())
        if len(text) > _MAX_PROVIDER_TEXT:
            text = text[: _MAX_PROVIDER_TEXT - 1] + "…"
        return text

    # ------------------------------------------------------------------ records

    def record_id(self, record: dict[str, Any]) -> str | None:
        """The event's ``id`` (a slug) when it is a non-blank string, else None."""
        value = record.get("id")
        if isinstance(value, str) and value.strip():
            return value.strip()
        return None

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Event:
        """One event record → Event.

        Times are ISO-8601 with an offset or naive ``YYYY-MM-DD HH:mm`` local times read
        in the record's zone (see the module docstring); the end is None when absent,
        unreadable as an instant, or before the start.

        RecordRejected reasons: ``missing_id``, ``missing_title``, ``missing_start``,
        ``bad_date``, ``missing_timezone``, ``unknown_timezone``.
        """
        source_id = self.record_id(record)
        if source_id is None:
            raise RecordRejected("missing_id", "no string 'id'")
        title = _text(record.get("name"))
        if title is None:
            raise RecordRejected("missing_title", "no non-blank 'name'")
        tz_name, starts_at, ends_at = _times(record)

        location = _dict(record.get("location"))
        lat, lon = _coords(record)
        country = _upper(_text(location.get("country")))
        alias = _text(record.get("category"))
        price_min = _price(record.get("cost"))
        price_max = _price(record.get("cost_max"))
        if price_min is not None and price_max is not None and price_max < price_min:
            price_min, price_max = price_max, price_min
        has_price = price_min is not None or price_max is not None
        is_free = record.get("is_free")
        return Event(
            source=self.name,
            source_id=source_id,
            title=title,
            starts_at=starts_at,
            timezone=tz_name,
            ends_at=ends_at,
            description=_text(record.get("description")),
            venue_name=None,  # Yelp names no venue (see the module docstring)
            address=_address(location),
            locality=_text(location.get("city")),
            postal_code=_text(location.get("zip_code")),
            country=country,
            lat=lat,
            lon=lon,
            category=_CATEGORIES.get(alias.casefold()) if alias else None,
            tags=(alias,) if alias else (),
            price_min=price_min,
            price_max=price_max,
            currency=_CURRENCIES.get(country or "") if has_price else None,
            is_free=is_free if isinstance(is_free, bool) else None,
            url=_clean_url(_text(record.get("event_site_url"))) or _text(record.get("tickets_url")),
            image_url=_text(record.get("image_url")),
            status="cancelled" if record.get("is_canceled") is True else "scheduled",
            fetched_at=fetched_at,
            raw=record,
        )


# --------------------------------------------------------------------------- requests


def _offset(cursor: Any | None) -> int:
    offset = 0 if cursor is None else int(cursor)
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")
    return offset


def _radius_m(radius_km: float) -> int:
    """Whole metres, rounded up so the circle sent covers the tile; at most 40 000."""
    metres = round(radius_km * 1000, 6)  # 12.2 km is 12200 m, not 12200.000000000002
    return max(1, min(math.ceil(metres), int(MAX_RADIUS_KM * 1000)))


def _unix(value: dt.datetime, *, ceil: bool) -> int:
    """Unix seconds, floored (or ceiled with ``ceil``); naive values are UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    whole, rest = divmod(value - _EPOCH, dt.timedelta(seconds=1))
    return whole + 1 if ceil and rest else whole


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- pages

_AUTH_CODES = frozenset({"TOKEN_INVALID", "TOKEN_MISSING", "UNAUTHORIZED_ACCESS_TOKEN"})
_BEARER = re.compile(r"(bearer\s+)\S+", re.IGNORECASE)


def _looks_like_error(body: Any) -> bool:
    return isinstance(body, dict) and "error" in body


def _error_fields(body: Any) -> tuple[str, str]:
    """(code, description) of a Yelp error body; ("", "") when it has none."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    code, text = error.get("code"), error.get("description")
    return (
        code.strip() if isinstance(code, str) else "",
        text if isinstance(text, str) else "",
    )


def _envelope(body: Any) -> tuple[list[dict[str, Any]], int]:
    """(events, total) from a search page; UpstreamError otherwise."""
    if not isinstance(body, dict):
        raise _bad_body(f"expected a JSON object, got {type(body).__name__}")
    total = body.get("total")
    if not _is_int(total) or total < 0:
        raise _bad_body("'total' is not a non-negative integer")
    events = body.get("events", [])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise _bad_body("'events' is not a list of objects")
    return events, total


def _bad_body(what: str) -> UpstreamError:
    return UpstreamError(_SOURCE, f"unexpected response body: {what}")


# --------------------------------------------------------------------------- records

#: Yelp's event category aliases → DESIGN categories.
_CATEGORIES = {
    "music": "music",
    "visual-arts": "arts",
    "performing-arts": "theater",
    "film": "film",
    "lectures-books": "learning",
    "fashion": "arts",
    "food-and-drink": "food_drink",
    "festivals-fairs": "community",
    "charities": "community",
    "sports-active-life": "sports",
    "nightlife": "nightlife",
    "kids-family": "family",
    "other": "other",
}
#: The local currency of the countries Yelp lists events in (prices carry none).
_CURRENCIES = {
    "US": "USD",
    "CA": "CAD",
    "GB": "GBP",
    "IE": "EUR",
    "DE": "EUR",
    "FR": "EUR",
    "ES": "EUR",
    "IT": "EUR",
    "NL": "EUR",
    "BE": "EUR",
    "AT": "EUR",
    "PT": "EUR",
    "FI": "EUR",
    "CH": "CHF",
    "SE": "SEK",
    "NO": "NOK",
    "DK": "DKK",
    "PL": "PLN",
    "CZ": "CZK",
    "AU": "AUD",
    "NZ": "NZD",
    "JP": "JPY",
    "SG": "SGD",
    "HK": "HKD",
    "MX": "MXN",
    "BR": "BRL",
}
_TRACKING = re.compile(r"adjust_creative|utm_.*", re.IGNORECASE)
#: The documented local format, with the ``HH-mm`` variant of its older wording.
_LOCAL_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2})[:-](\d{2})(?::(\d{2}))?")


# ---- time


def _times(record: dict[str, Any]) -> tuple[str | None, dt.datetime, dt.datetime | None]:
    """(IANA zone or None, start instant, end instant or None) of a record."""
    tz_name = _text(record.get("timezone"))
    zone: dt.tzinfo | None = None
    if tz_name is not None:
        try:
            zone = zoneinfo.ZoneInfo(tz_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise RecordRejected(
                "unknown_timezone", f"{_shown(tz_name)} is not an IANA zone"
            ) from None

    if record.get("time_start") is None or record.get("time_start") == "":
        raise RecordRejected("missing_start", "no 'time_start'")
    start = _parse_time(record["time_start"], "time_start")
    try:
        end = _parse_time(record["time_end"], "time_end") if record.get("time_end") else None
    except RecordRejected:
        end = None  # an unreadable end does not make the event unusable

    if start.tzinfo is None and zone is None and (end is None or end.tzinfo is None):
        # Yelp's short "YYYY-MM-DD HH:mm" form is local time without a zone: take the
        # zone of the event's coordinates (offline lookup).
        tz_name = zone_for(_number(record.get("latitude")), _number(record.get("longitude")))
        zone = zoneinfo.ZoneInfo(tz_name) if tz_name else None
    if start.tzinfo is None:
        start_zone = zone or (end.tzinfo if end is not None else None)
        if start_zone is None:
            raise RecordRejected(
                "missing_timezone",
                f"time_start {_shown(record['time_start'])} is local and the record has no zone",
            )
        start = start.replace(tzinfo=start_zone)
    if end is not None and end.tzinfo is None:
        end = end.replace(tzinfo=zone or start.tzinfo)

    starts_at = _to_utc(start, "time_start")
    ends_at = _to_utc(end, "time_end") if end is not None else None
    if ends_at is not None and ends_at < starts_at:
        ends_at = None
    return tz_name, starts_at, ends_at


def _parse_time(value: Any, where: str) -> dt.datetime:
    """An aware datetime (ISO-8601 with offset) or a naive local one; bad_date otherwise."""
    if isinstance(value, str):
        text = value.strip()
        match = _LOCAL_TIME.fullmatch(text)
        try:
            if match:
                parts = [int(p) for p in match.groups(default="0")]
                return dt.datetime(*parts)  # type: ignore[arg-type]
            if "T" in text:
                return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
    raise RecordRejected(
        "bad_date", f"{where} {_shown(value)} is neither ISO-8601 nor YYYY-MM-DD HH:mm"
    )


def _to_utc(value: dt.datetime, where: str) -> dt.datetime:
    try:
        # fold=0: a local time in a DST gap takes the offset before the gap (so it
        # moves forward by the gap); an ambiguous one is its first occurrence.
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise RecordRejected("bad_date", f"{where} is out of range") from None


# ---- place and presentation


def _address(location: dict[str, Any]) -> str | None:
    lines = [_text(location.get(key)) for key in ("address1", "address2", "address3")]
    return ", ".join(line for line in lines if line) or None


def _coords(record: dict[str, Any]) -> tuple[float | None, float | None]:
    """(lat, lon); (None, None) if missing, invalid or the (0, 0) placeholder."""
    lat, lon = _number(record.get("latitude")), _number(record.get("longitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    if lat == 0 and lon == 0:
        return None, None
    return lat, lon


def _price(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number >= 0 else None


def _clean_url(url: str | None) -> str | None:
    """``url`` without Yelp's tracking parameters (they carry the API client's id)."""
    if url is None:
        return None
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING.fullmatch(k)
    ]
    return urlunsplit(parts._replace(query=urlencode(kept)))
