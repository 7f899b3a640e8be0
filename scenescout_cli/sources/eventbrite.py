"""Eventbrite API v3: request building, page parsing, normalisation.

Pure: this module builds ``ApiRequest``s and reads decoded JSON bodies; it never does
I/O. ``sources/http.py`` sends the requests and the discovery stage drives the paging.

Provider facts this module relies on (see the API notes, section 2):

- There is no public event search (removed in 2019). What can be listed is one
  organization's events (``GET {base}/organizations/{id}/events/``) and one venue's
  (``GET {base}/venues/{id}/events/``), so a crawl lists the organizers and venues the
  operator names (``SCENESCOUT_EVENTBRITE_ORGANIZERS``/``_VENUES``): one query each.
- The token is a bearer token in the ``Authorization`` header, never a query parameter,
  so it never appears in a URL.
- Paging is by continuation: while ``pagination.has_more_items`` is true, the same
  request is repeated with ``continuation=<token>``. ``object_count``/``page_count`` may
  be missing; an endpoint that gives no continuation is paged with ``page=N`` until an
  empty page or a 400 ``BAD_PAGE``. No total-results cap is documented.
- Errors are ``{"error": "CODE", "error_description": "...", "status_code": N}``;
  the code, not the text, decides.
- Events carry ``start``/``end`` as ``{timezone, local (naive), utc (...Z)}``; venue
  coordinates are JSON strings; prices are Currency objects in minor units plus a
  ``major_value`` string; the cancelled status is spelled ``canceled``.

Decisions where the notes are UNCERTAIN or silent:

- **Organizations vs organizers.** ``organizer:<id>`` targets are first listed with the
  documented ``/organizations/{id}/events/``. That endpoint is reported to answer 404
  for organizations other than the token's own, while the legacy
  ``/organizers/{id}/events/`` was still reading other organizers' public events in
  2023 — and the id on an organizer's public page is an *organizer* id, not an
  organization id. So a 404 on the first organization page is not an error yet: the
  page comes back empty with a cursor that moves the target to the legacy endpoint.
  A 404 there too is an ``UpstreamError(status=404)``: that one target fails, the
  source goes on. The legacy endpoint's parameters are not in the notes; it gets the
  ones it shares with the venue endpoint (status, order, expansions, paging).
- **Time window.** The venue endpoint filters by start (``start_date.range_start`` /
  ``range_end``, sent as UTC ``YYYY-MM-DDTHH:MM:SSZ``, the API's datetime type); the
  organization endpoint has only ``time_filter=current_future``. Its events outside
  the window are *not* dropped here: they are real events, and the pipeline decides
  what to keep. ``normalise`` never looks at the window.
- **Paging cap.** ``page_cap`` is 10 000 records per target — 200 requests at the
  default 50 per page, a tenth of the hourly budget — far above what one organizer or
  venue lists, and a stop for a continuation that never ends. Totals above the cap
  are not reported in ``Page.total``: a target cannot be narrowed by splitting the
  query in time or space (the organization endpoint ignores both), so the planner's
  split must never be triggered for this source.
- **BAD_PAGE** on a follow-up page is the end of paging (the documented way a
  page-numbered listing ends); on a first page it is an ``UpstreamError``.
- **Rate.** 2 000 calls per hour, the documented default (some third parties quote
  1 000/h — UNCERTAIN). ``HIT_RATE_LIMIT`` is hourly, so retries rarely rescue it.
- **Drafts, private events and online events** are rejected by ``normalise``
  (``draft``, ``private_event``, ``online_event``): a city crawl keeps public events
  that take place somewhere. Requests already ask only for live, started and
  canceled events (cancellations are kept so a stored event can be marked cancelled).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from typing import Any, ClassVar

import attrs

from ..errors import (
    ConfigError,
    RecordRejected,
    SourceAuthError,
    SourceRateLimited,
    UpstreamError,
)
from ..model import City, Event, Page, Query, Window
from .base import ApiRequest
from .fields import as_dict as _dict
from .fields import is_int as _is_int
from .fields import number as _number
from .fields import parse_utc as _parse_utc
from .fields import shown as _shown
from .fields import text as _text
from .fields import upper as _upper

__all__ = ["EventbriteSource"]

_SOURCE = "eventbrite"
#: Records one target may page through (see the module docstring).
_PAGE_CAP = 10_000
_MAX_PROVIDER_TEXT = 300
_ORGANIZER = "organizer"
_VENUE = "venue"
_EXPAND = "venue,ticket_availability,logo"
#: Statuses asked for: published events, running events, and cancellations.
_STATUS_FILTER = "live,started,canceled"
_ID = re.compile(r"[A-Za-z0-9_-]+")


# --------------------------------------------------------------------------- cursor


@attrs.frozen
class _Cursor:
    """Where paging of one target stands.

    ``seen`` counts the records already fetched for the target; ``continuation`` is the
    provider's token, ``page`` the 1-based page number when it gives none; ``legacy``
    marks an organizer target moved to ``/organizers/{id}/events/``.

    Cursors travel as plain JSON objects (``to_json``), so they can be checkpointed.
    """

    seen: int = 0
    continuation: str | None = None
    page: int | None = None
    legacy: bool = False

    @classmethod
    def from_any(cls, cursor: Any | None) -> _Cursor:
        """The cursor from ``None`` (the first page) or a ``to_json`` object."""
        if cursor is None:
            return cls()
        if not isinstance(cursor, dict):
            raise TypeError(f"an Eventbrite cursor is a JSON object, got {type(cursor).__name__}")
        seen, continuation = cursor.get("seen", 0), cursor.get("continuation")
        page, legacy = cursor.get("page"), cursor.get("legacy", False)
        if not (_is_int(seen) and seen >= 0):
            raise ValueError("cursor 'seen' must be a non-negative integer")
        if continuation is not None and not isinstance(continuation, str):
            raise ValueError("cursor 'continuation' must be a string")
        if page is not None and not (_is_int(page) and page >= 1):
            raise ValueError("cursor 'page' must be a positive integer")
        if not isinstance(legacy, bool):
            raise ValueError("cursor 'legacy' must be a boolean")
        return cls(seen=seen, continuation=continuation, page=page, legacy=legacy)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seen": self.seen}
        if self.continuation is not None:
            out["continuation"] = self.continuation
        if self.page is not None:
            out["page"] = self.page
        if self.legacy:
            out["legacy"] = True
        return out

    @property
    def is_first(self) -> bool:
        """Whether this cursor asks for the first page of its endpoint."""
        return self.continuation is None and self.page is None


# --------------------------------------------------------------------------- adapter


def _check_token(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("EVENTBRITE_TOKEN must be a non-empty string")


def _clean_ids(values: Any) -> tuple[str, ...]:
    """Stripped, de-duplicated ids in their first order; blanks dropped.

    A single string is read as a comma-separated list, as in the environment.
    """
    if isinstance(values, str):
        values = values.split(",")
    ids = (str(v).strip() for v in values)
    return tuple(dict.fromkeys(i for i in ids if i))


def _check_ids(variable: str) -> Callable[[object, attrs.Attribute[Any], tuple[str, ...]], None]:
    def check(_inst: object, _attr: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
        for item in value:
            # ids are put into URL paths: nothing that could change the path
            if not _ID.fullmatch(item):
                raise ConfigError(
                    f"{variable}: {item[:40]!r} is not an Eventbrite id "
                    "(letters, digits, '-' and '_' only)"
                )

    return check


@attrs.frozen
class EventbriteSource:
    """The Eventbrite v3 adapter (a ``SourceAdapter``).

    ``EventbriteSource(token, *, organizers=(), venues=())``: the organizer and venue
    ids whose events are listed. Ids are stripped and de-duplicated. ConfigError on a
    blank token or an id that is not plain letters, digits, ``-`` and ``_``. The token
    is sent only in the ``Authorization`` header and never appears in the repr or in
    any error message.

    The cursor is a JSON object (``{"seen": n, "continuation": "..."}``, see
    ``_Cursor``); None means the first page.
    """

    name: ClassVar[str] = _SOURCE
    page_cap: ClassVar[int] = _PAGE_CAP
    rate_per_second: ClassVar[float] = 2000 / 3600
    #: The limit is 2,000 an hour, not one every 1.8 s: a crawl of a few dozen targets
    #: may go at once; a long one settles at the hourly rate.
    rate_burst: ClassVar[float] = 60.0

    _token: str = attrs.field(repr=False, validator=_check_token)
    organizers: tuple[str, ...] = attrs.field(
        default=(),
        kw_only=True,
        converter=_clean_ids,
        validator=_check_ids("SCENESCOUT_EVENTBRITE_ORGANIZERS"),
    )
    venues: tuple[str, ...] = attrs.field(
        default=(),
        kw_only=True,
        converter=_clean_ids,
        validator=_check_ids("SCENESCOUT_EVENTBRITE_VENUES"),
    )

    # ------------------------------------------------------------------ planning

    def plan(self, city: City, window: Window) -> list[Query]:
        """One query per organizer, then one per venue, each over the city area and window."""
        targets = [f"{_ORGANIZER}:{i}" for i in self.organizers]
        targets += [f"{_VENUE}:{i}" for i in self.venues]
        return [
            Query(source=self.name, area=city.area, window=window, target=target)
            for target in targets
        ]

    def request(self, query: Query, cursor: Any | None) -> ApiRequest:
        """The GET request for the page of ``query``'s target that ``cursor`` names.

        Organizers: ``/organizations/{id}/events/`` (``/organizers/{id}/events/`` once
        the cursor says so); venues: ``/venues/{id}/events/`` with the window as a start
        range. The token goes in the ``Authorization`` header. UpstreamError when the
        query has no organizer or venue target (only this module's ``plan`` makes
        Eventbrite queries, so that is a bug upstream; the query fails, not the run).
        """
        kind, target_id = _target(query)
        state = _Cursor.from_any(cursor)
        params = {"status": _STATUS_FILTER, "order_by": "start_asc", "expand": _EXPAND}
        if kind == _VENUE:
            path = f"/venues/{target_id}/events/"
            params["start_date.range_start"] = _format_utc(query.window.start, ceil=False)
            params["start_date.range_end"] = _format_utc(query.window.end, ceil=True)
            params["only_public"] = "true"
        elif state.legacy:
            path = f"/organizers/{target_id}/events/"
        else:
            path = f"/organizations/{target_id}/events/"
            params["time_filter"] = "current_future"
        if state.continuation is not None:
            params["continuation"] = state.continuation
        elif state.page is not None:
            params["page"] = str(state.page)
        return ApiRequest(
            method="GET",
            path=path,
            params=params,
            headers={"Authorization": f"Bearer {self._token}"},
        )

    # ------------------------------------------------------------------ pages

    def parse_page(self, query: Query, cursor: Any | None, status: int, body: Any) -> Page:
        """One response → ``Page(records, next_cursor, total=object_count)``.

        The next cursor continues the target while ``has_more_items`` is true (by
        continuation token, else by page number), the page had records, and fewer
        than ``page_cap`` records have been fetched. ``total`` is ``object_count`` when
        given and within the cap, else None.

        Errors: SourceAuthError (401/403, ``INVALID_AUTH``, ``NO_AUTH``,
        ``NOT_AUTHORIZED``…), SourceRateLimited (429 ``HIT_RATE_LIMIT``), UpstreamError
        with ``status`` and ``code`` (404 for a target that cannot be read, 5xx, other
        4xx, a body of the wrong shape). A 404 on an organization's first page and a
        ``BAD_PAGE`` on a follow-up page are not errors (see the module docstring).
        Messages never contain the token.
        """
        state = _Cursor.from_any(cursor)
        if not 200 <= status < 300 or _looks_like_error(body):
            return self._error_page(query, state, status, body)
        records, pagination = _envelope(body)
        return Page(
            records,
            _next_cursor(state, pagination, len(records)),
            total=_total(pagination),
        )

    def _error_page(self, query: Query, state: _Cursor, status: int, body: Any) -> Page:
        """The page an error response stands for, or raise the matching SourceError."""
        code, text = _error(body)
        code, text = self._scrub(code), self._scrub(text)
        what = f"HTTP {status} {code}: {text}" if code else f"HTTP {status}"
        target = query.target or "no target"
        if status in (401, 403) or code in _AUTH_CODES:
            raise SourceAuthError(_SOURCE, f"token refused ({what})")
        if status == 429 or code == "HIT_RATE_LIMIT":
            raise SourceRateLimited(_SOURCE, f"rate limited ({what})")
        if code == "BAD_PAGE" and not state.is_first:
            return Page([], None)
        if status == 404 or code == "NOT_FOUND":
            kind, _ = _target(query)
            if kind == _ORGANIZER and not state.legacy and state.is_first:
                return Page([], _Cursor(legacy=True).to_json())
            where = "organization or organizer" if kind == _ORGANIZER else "venue"
            raise UpstreamError(
                _SOURCE,
                f"{target}: no such {where} readable with this token ({what})",
                status=status,
                code=code or None,
            )
        if status >= 500:
            raise UpstreamError(
                _SOURCE, f"{target}: server error ({what})", status=status, code=code or None
            )
        if 200 <= status < 300:
            raise UpstreamError(
                _SOURCE,
                f"{target}: an error object in a successful response ({what})",
                status=status,
                code=code or None,
            )
        raise UpstreamError(_SOURCE, f"{target}: {what}", status=status, code=code or None)

    def _scrub(self, text: str) -> str:
        """Provider text made safe for one-line messages: no token, no newlines, short."""
        text = re.sub(re.escape(self._token), "[redacted]", text, flags=re.IGNORECASE)
        text = _TOKEN_TEXT.sub(r"\1[redacted]", text)
        text = " ".join(text.split())
        if len(text) > _MAX_PROVIDER_TEXT:
            text = text[: _MAX_PROVIDER_TEXT - 1] + "…"
        return text

    # ------------------------------------------------------------------ records

    def record_id(self, record: dict[str, Any]) -> str | None:
        """The event's ``id`` when it is a non-blank string, else None."""
        value = record.get("id")
        if isinstance(value, str) and value.strip():
            return value.strip()  # "not necessarily numeric": kept as text
        return None

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Event:
        """One event record → Event.

        The instant is ``start.utc`` when present, else ``start.local`` read in
        ``start.timezone`` (a DST-gap time moves forward by the gap; an ambiguous one is
        its first occurrence); the end likewise, None when before the start. The result
        depends on the record alone, so an event listed by both an organizer and a
        venue normalises identically.

        RecordRejected reasons: ``missing_id``, ``missing_title``, ``online_event``,
        ``draft``, ``private_event``, ``missing_start``, ``missing_timezone``,
        ``unknown_timezone``, ``bad_date``.
        """
        source_id = self.record_id(record)
        if source_id is None:
            raise RecordRejected("missing_id", "no string 'id'")
        title = _text(_dict(record.get("name")).get("text"))
        if title is None:
            raise RecordRejected("missing_title", "no non-blank 'name.text'")
        if record.get("online_event") is True:
            raise RecordRejected("online_event", f"{source_id} takes place online")
        status = _text(record.get("status"))
        if status is not None and status.casefold() == "draft":
            raise RecordRejected("draft", f"{source_id} is not published")
        if record.get("listed") is False or record.get("invite_only") is True:
            raise RecordRejected("private_event", f"{source_id} is unlisted or invite-only")

        start, end = _dict(record.get("start")), _dict(record.get("end"))
        tz_name = _zone_name(start) or _zone_name(end)
        starts_at = _instant(start, "start")
        if starts_at is None:
            raise RecordRejected("missing_start", "no start.utc or start.local")
        ends_at = _instant(end, "end")
        if ends_at is not None and ends_at < starts_at:
            ends_at = None

        venue = _dict(record.get("venue"))
        address = _dict(venue.get("address"))
        lat, lon = _coords(venue, address)
        price_min, price_max, currency = _prices(
            _dict(record.get("ticket_availability")), _upper(_text(record.get("currency")))
        )
        return Event(
            source=self.name,
            source_id=source_id,
            title=title,
            starts_at=starts_at,
            timezone=tz_name,
            ends_at=ends_at,
            description=_text(_dict(record.get("description")).get("text"))
            or _text(record.get("summary")),
            venue_name=_text(venue.get("name")),
            address=_address(address),
            locality=_text(address.get("city")),
            postal_code=_text(address.get("postal_code")),
            country=_upper(_text(address.get("country"))),
            lat=lat,
            lon=lon,
            category=_category(record),
            price_min=price_min,
            price_max=price_max,
            currency=currency,
            is_free=record.get("is_free") if isinstance(record.get("is_free"), bool) else None,
            url=_text(record.get("url")),
            image_url=_image(record.get("logo")),
            status=_STATUSES.get(status.casefold(), "scheduled") if status else "scheduled",
            fetched_at=fetched_at,
            raw=record,
        )


# --------------------------------------------------------------------------- requests


def _target(query: Query) -> tuple[str, str]:
    """(kind, id) of an ``organizer:<id>``/``venue:<id>`` target; UpstreamError otherwise."""
    kind, _, target_id = (query.target or "").partition(":")
    if kind not in (_ORGANIZER, _VENUE) or not _ID.fullmatch(target_id):
        raise UpstreamError(
            _SOURCE, f"query target {query.target!r} is not 'organizer:<id>' or 'venue:<id>'"
        )
    return kind, target_id


def _format_utc(value: dt.datetime, *, ceil: bool) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, sub-seconds floored (or ceiled with ``ceil``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    whole = value.replace(microsecond=0)
    if ceil and whole != value:
        whole += dt.timedelta(seconds=1)
    return whole.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- pages

_AUTH_CODES = frozenset(
    {"INVALID_AUTH", "INVALID_AUTH_HEADER", "NO_AUTH", "ACCESS_DENIED", "NOT_AUTHORIZED"}
)
_TOKEN_TEXT = re.compile(r"((?:token=|bearer\s+))[^&\s]+", re.IGNORECASE)


def _looks_like_error(body: Any) -> bool:
    return isinstance(body, dict) and "error" in body and "events" not in body


def _error(body: Any) -> tuple[str, str]:
    """(code, description) of an Eventbrite error body; ("", "") when it has none."""
    if not isinstance(body, dict):
        return "", ""
    code, text = body.get("error"), body.get("error_description")
    return (
        code.strip() if isinstance(code, str) else "",
        text if isinstance(text, str) else "",
    )


def _envelope(body: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(events, pagination) from a listing page; UpstreamError otherwise."""
    if not isinstance(body, dict):
        raise _bad_body(f"expected a JSON object, got {type(body).__name__}")
    events = body.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise _bad_body("'events' is not a list of objects")
    pagination = body.get("pagination", {})
    if not isinstance(pagination, dict):
        raise _bad_body("'pagination' is not an object")
    return events, pagination


def _next_cursor(state: _Cursor, pagination: dict[str, Any], n_records: int) -> Any | None:
    """The next page's cursor (JSON), or None at the end of the target or the cap."""
    seen = state.seen + n_records
    if n_records == 0 or seen >= _PAGE_CAP or not pagination:
        return None
    has_more = pagination.get("has_more_items")
    continuation = _text(pagination.get("continuation"))
    if has_more is True and continuation is not None:
        return _Cursor(seen=seen, continuation=continuation, legacy=state.legacy).to_json()
    if has_more is False:
        return None
    # No usable continuation: page numbers, while page_count (if given) says there are more.
    number = pagination.get("page_number")
    page = number if _is_int(number) and number >= 1 else (state.page or 1)
    count = pagination.get("page_count")
    if has_more is not True and _is_int(count) and page >= count:
        return None
    return _Cursor(seen=seen, page=page + 1, legacy=state.legacy).to_json()


def _total(pagination: dict[str, Any]) -> int | None:
    count = pagination.get("object_count")
    if _is_int(count) and 0 <= count <= _PAGE_CAP:
        return count
    return None


def _bad_body(what: str) -> UpstreamError:
    return UpstreamError(_SOURCE, f"unexpected response body: {what}")


# --------------------------------------------------------------------------- records

_STATUSES = {
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "live": "scheduled",
    "started": "scheduled",
    "ended": "scheduled",
    "completed": "scheduled",
}

#: Eventbrite's top-level categories (``GET /v3/categories/``) → DESIGN categories.
_CATEGORIES = {
    "101": "learning",  # Business & Professional
    "102": "learning",  # Science & Technology
    "103": "music",  # Music
    "104": "film",  # Film, Media & Entertainment
    "105": "arts",  # Performing & Visual Arts
    "106": "arts",  # Fashion & Beauty
    "107": "wellness",  # Health & Wellness
    "108": "sports",  # Sports & Fitness
    "109": "other",  # Travel & Outdoor
    "110": "food_drink",  # Food & Drink
    "111": "community",  # Charity & Causes
    "112": "community",  # Government & Politics
    "113": "community",  # Community & Culture
    "114": "community",  # Religion & Spirituality
    "115": "family",  # Family & Education
    "116": "community",  # Seasonal & Holiday
    "117": "other",  # Home & Lifestyle
    "118": "other",  # Auto, Boat & Air
    "119": "community",  # Hobbies & Special Interest
    "120": "family",  # School Activities
    "199": "other",  # Other
}
#: Subcategories (``GET /v3/subcategories/``) that name a DESIGN category more precisely.
_SUBCATEGORIES = {
    "4004": "comedy",  # Film, Media & Entertainment: Comedy
    "5001": "theater",  # Performing & Visual Arts: Theatre
    "5002": "theater",  # Performing & Visual Arts: Musical
    "5003": "theater",  # Performing & Visual Arts: Ballet
    "5005": "theater",  # Performing & Visual Arts: Opera
    "5006": "music",  # Performing & Visual Arts: Orchestra
}
#: ISO 4217 currencies whose minor unit is not 1/100.
_MINOR_DIGITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW"), 0),
    **dict.fromkeys(("PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


# ---- time


def _zone_name(part: dict[str, Any]) -> str | None:
    """The IANA zone of a ``start``/``end`` object; RecordRejected if it is not one."""
    name = _text(part.get("timezone"))
    if name is not None:
        _zone(name)
    return name


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise RecordRejected("unknown_timezone", f"{_shown(name)} is not an IANA zone") from None


def _instant(part: dict[str, Any], where: str) -> dt.datetime | None:
    """The UTC instant of a ``start``/``end`` object, or None when it has no time at all."""
    if part.get("utc") is not None:
        return _parse_utc(part["utc"], f"{where}.utc")
    if part.get("local") is None:
        return None
    local = _parse_local(part["local"], f"{where}.local")
    name = _text(part.get("timezone"))
    if name is None:
        raise RecordRejected("missing_timezone", f"{where}.local without {where}.timezone")
    try:
        # fold=0: a time in a DST gap takes the offset before the gap (so it moves
        # forward by the gap); an ambiguous time is its first occurrence.
        return local.replace(tzinfo=_zone(name)).astimezone(dt.UTC)
    except OverflowError:
        raise RecordRejected("bad_date", f"{where} is out of range") from None


def _parse_local(value: Any, where: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return parsed
    raise RecordRejected("bad_date", f"{where} {_shown(value)} is not YYYY-MM-DDTHH:MM:SS")


# ---- place


def _address(address: dict[str, Any]) -> str | None:
    """``address_1, address_2``; the localized display when there is no street line."""
    lines = [_text(address.get(key)) for key in ("address_1", "address_2")]
    return ", ".join(line for line in lines if line) or _text(
        address.get("localized_address_display")
    )


def _coords(venue: dict[str, Any], address: dict[str, Any]) -> tuple[float | None, float | None]:
    """(lat, lon) from the venue's (string) coordinates, else its address's.

    (0, 0) is a placeholder, not a venue in the Gulf of Guinea.
    """
    for where in (venue, address):
        lat, lon = _number(where.get("latitude")), _number(where.get("longitude"))
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            continue
        if lat == 0 and lon == 0:
            continue
        return lat, lon
    return None, None


# ---- presentation


def _image(logo: Any) -> str | None:
    """The uncropped original logo, else the cropped one."""
    logo = _dict(logo)
    return _text(_dict(logo.get("original")).get("url")) or _text(logo.get("url"))


def _category(record: dict[str, Any]) -> str | None:
    sub = _text(record.get("subcategory_id"))
    if sub is not None and sub in _SUBCATEGORIES:
        return _SUBCATEGORIES[sub]
    category = _text(record.get("category_id"))
    return _CATEGORIES.get(category) if category is not None else None


def _prices(
    availability: dict[str, Any], fallback_currency: str | None
) -> tuple[float | None, float | None, str | None]:
    """(min, max, currency) from ``ticket_availability``'s Currency objects."""
    low_obj = _dict(availability.get("minimum_ticket_price"))
    high_obj = _dict(availability.get("maximum_ticket_price"))
    low, high = _money(low_obj), _money(high_obj)
    if low is None and high is None:
        return None, None, None
    if low is not None and high is not None and high < low:
        low, high = high, low
    currency = (
        _upper(_text(low_obj.get("currency")))
        or _upper(_text(high_obj.get("currency")))
        or fallback_currency
    )
    return low, high, currency


def _money(price: dict[str, Any]) -> float | None:
    """A Currency object's amount in major units: ``major_value``, else ``value`` scaled."""
    major = _number(price.get("major_value"))
    if major is None:
        value = price.get("value")
        if not _is_int(value):
            return None
        currency = _upper(_text(price.get("currency"))) or ""
        major = value / 10 ** _MINOR_DIGITS.get(currency, 2)
    return major if major >= 0 else None
