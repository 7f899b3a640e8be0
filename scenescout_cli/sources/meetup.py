"""Meetup GraphQL (``gql-ext``): request building, page parsing, normalisation.

Pure: this module builds ``ApiRequest``s and reads decoded JSON bodies; it never does
I/O. ``sources/http.py`` sends the requests and the discovery stage drives the paging.

Provider facts this module relies on (see the API notes, section 4):

- One endpoint: ``POST {base}`` — the base URL *is* the GraphQL endpoint
  (``https://api.meetup.com/gql-ext``) — with ``{"query": ..., "variables": ...}`` and
  ``Authorization: Bearer <token>``.
- ``eventSearch(filter, first, after, sort)``: the filter *requires* a non-empty
  ``query`` phrase and ``lat``/``lon``; ``radius`` is in **miles**; ``startDateRange``/
  ``endDateRange`` are ``DateTime``. ``recommendedEvents`` needs no phrase (date ranges
  are Strings there). Both are relay connections: ``totalCount``, ``pageInfo {hasNextPage
  endCursor}``, ``edges {node}``; paging is ``after: endCursor``.
- 500 points per 60 seconds per token; the point cost of a query is not published.
- GraphQL errors arrive with HTTP 200 and an ``errors`` array (auth failures may be a
  401); the shape of a rate-limit error is not documented.
- Events: ``id`` is unstable, ``token`` is the stable id. ``dateTime``/``endTime`` are
  ISO-8601 with the local offset; the IANA zone is only on ``group.timezone`` (legacy
  names such as ``US/Eastern``). ``venues`` is a list (hybrid events have two); an online
  venue (``venueType == "online"``) carries junk coordinates. ``feeSettings`` null means
  free. ``description`` is markdown-ish text, kept as sent for the sanitiser.

Decisions (the uncertain ones are marked so):

- **Queries.** ``eventSearch`` cannot search without a phrase, so ``plan`` emits one query
  per general phrase in ``SEARCH_PHRASES`` (``Query.target = "search:<phrase>"``) plus one
  ``recommendedEvents`` query for the whole area (``target=None``), each over the city
  circle and the window. The pipeline recognises repeats across phrases by ``token``.
  Recurring series are asked for unconsolidated (``doConsolidateEvents: false``) so every
  occurrence is listed. Online events are not filtered out in the request (the
  ``eventType`` filter takes one value and would drop hybrid events too); ``normalise``
  rejects them, so they are counted in the rejects table.
- **Rate.** The cost per query is unpublished, so each page (up to 50 events with nested
  venues and group) is budgeted at about 5 points: 500 / 5 / 60 s ≈ 1.67 requests/s,
  rounded down to ``rate_per_second = 1.5``. A 429 is retried by the HTTP layer anyway.
- **Paging cap (UNCERTAIN).** Relay cursors have no documented depth cap, but one scraper
  reports that a search returns at most ~200 results. ``page_cap = 200``: pages of 50
  are followed while the next page starts inside the first 200 results, and a query
  whose ``totalCount`` is larger is split by the planner (time first), which stays
  complete whether or not the server really stops at 200.
- **Cursor.** ``"<page>:<endCursor>"``: the 0-based number of the page it fetches and
  Meetup's opaque cursor. The page number is what lets the adapter stop at its cap.
- **Dates sent (UNCERTAIN).** The accepted input format of ``DateTime`` in filters is not
  documented; the window is sent as ISO-8601 with an explicit ``+00:00`` offset (the
  format responses use), widened to whole seconds.
- **Errors.** HTTP 401/403 → SourceAuthError; HTTP 429 → SourceRateLimited. A GraphQL
  ``errors`` array decides only when there is no usable ``data.<field>``: an
  ``extensions.code`` (or graphql-java ``classification``) or message that says
  authentication → SourceAuthError, rate limiting → SourceRateLimited (UNCERTAIN: the
  rate-limit shape was never seen, so common codes and wordings are recognised); anything
  else → UpstreamError. **Partial data** (a usable connection *and* errors) is kept: such
  errors are field-level (a photo or venue that failed to resolve), and failing the whole
  page would lose every good record on it; a null node is skipped.
- **Normalisation.** Start and end are exact instants from their offsets. ``timezone`` is
  ``group.timezone`` (legacy US/Canada names mapped to their canonical zone) only when
  that zone has the event's offset at its start — a group that meets elsewhere does not
  label the event with its home zone. The end is ``endTime``, else start + ``duration``.
  Category is left to the classifier: the fields that could carry one (topics) are not in
  the documented schema, and asking for an unknown field fails the whole query.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Iterable
from typing import Any, ClassVar

import attrs

from ..errors import (
    RecordRejected,
    SourceAuthError,
    SourceError,
    SourceRateLimited,
    UpstreamError,
)
from ..model import City, Event, Page, Query, Window
from .base import ApiRequest
from .fields import as_dict as _dict
from .fields import as_list as _list
from .fields import shown as _shown
from .fields import text as _text

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "SEARCH_PHRASES", "MeetupSource"]

_SOURCE = "meetup"
#: The most results one query pages through (see the module notes: UNCERTAIN).
_PAGE_CAP = 200
DEFAULT_PAGE_SIZE = 50
#: Our own ceiling on ``first``: Meetup documents none; clients use 20 to 100 for searches.
MAX_PAGE_SIZE = 100
#: General phrases for ``eventSearch``, one query each; they span the event categories.
SEARCH_PHRASES = (
    "music",
    "comedy",
    "theater",
    "art",
    "film",
    "sports",
    "food",
    "nightlife",
    "family",
    "tech",
    "social",
    "wellness",
)
_SEARCH_PREFIX = "search:"
_KM_PER_MILE = 1.609344
_MAX_PROVIDER_TEXT = 300

_EVENT_FIELDS = """
fragment EventFields on Event {
  token
  title
  description
  dateTime
  endTime
  duration
  status
  eventType
  eventUrl
  venues { name address city state postalCode country lat lon venueType }
  featuredEventPhoto { id highResUrl standardUrl }
  feeSettings { amount currency required }
  group { name urlname timezone }
}
"""
_SEARCH_DOCUMENT = (
    """query EventSearch($filter: EventSearchFilter!, $first: Int, $after: String) {
  eventSearch(filter: $filter, first: $first, after: $after, sort: {sortField: DATETIME}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { ...EventFields } }
  }
}
"""
    + _EVENT_FIELDS
)
_RECOMMENDED_DOCUMENT = (
    """query RecommendedEvents($filter: RecommendedEventsFilter!, $first: Int, $after: String) {
  recommendedEvents(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { ...EventFields } }
  }
}
"""
    + _EVENT_FIELDS
)


# --------------------------------------------------------------------------- adapter


def _check_token(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("the Meetup access token must be a non-empty string")


def _check_page_size(_inst: object, _attr: attrs.Attribute[int], value: int) -> None:
    # A size that divides the cap makes the cap exactly what one query pages through.
    if not (1 <= value <= MAX_PAGE_SIZE and _PAGE_CAP % value == 0):
        raise ValueError(
            f"page_size must divide {_PAGE_CAP} and be at most {MAX_PAGE_SIZE}, got {value}"
        )


def _to_phrases(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _check_phrases(_inst: object, _attr: attrs.Attribute[tuple[str, ...]], value: Any) -> None:
    if not all(isinstance(p, str) and p.strip() for p in value):
        raise ValueError("search phrases must be non-empty strings")


@attrs.frozen
class MeetupSource:
    """The Meetup ``gql-ext`` adapter (a ``SourceAdapter``).

    ``MeetupSource(token, *, page_size=50, phrases=SEARCH_PHRASES)``. The token is sent
    only in the ``Authorization`` header (``ApiRequest.headers`` is kept out of reprs),
    never shown in this object's repr and scrubbed from every error message. ValueError
    on an empty token, a ``page_size`` above 100 or not dividing 200, or a blank phrase.

    Queries: ``target = "search:<phrase>"`` runs ``eventSearch`` for that phrase;
    ``target=None`` runs ``recommendedEvents`` over the area. The cursor is
    ``"<page>:<endCursor>"`` (None means page 0).
    """

    name: ClassVar[str] = _SOURCE
    page_cap: ClassVar[int] = _PAGE_CAP
    rate_per_second: ClassVar[float] = 1.5
    #: 500 points a minute: a short burst stays well inside the minute's budget.
    rate_burst: ClassVar[float] = 10.0

    _token: str = attrs.field(repr=False, validator=_check_token)
    page_size: int = attrs.field(
        default=DEFAULT_PAGE_SIZE, kw_only=True, validator=_check_page_size
    )
    phrases: tuple[str, ...] = attrs.field(
        default=SEARCH_PHRASES, kw_only=True, converter=_to_phrases, validator=_check_phrases
    )

    # ------------------------------------------------------------------ planning

    def plan(self, city: City, window: Window) -> list[Query]:
        """One ``eventSearch`` query per phrase, then one ``recommendedEvents`` query.

        Each covers the whole city circle over ``window``.
        """
        searches = [
            Query(source=self.name, area=city.area, window=window, target=_SEARCH_PREFIX + p)
            for p in dict.fromkeys(p.strip() for p in self.phrases)
        ]
        return [*searches, Query(source=self.name, area=city.area, window=window)]

    def request(self, query: Query, cursor: Any | None) -> ApiRequest:
        """The GraphQL ``POST`` for page ``cursor`` (None → the first page) of ``query``.

        The radius is sent in whole miles, rounded up, and the window widened to whole
        seconds, so what is asked for always covers the query. Naive window datetimes
        are taken as UTC. ValueError on a target or cursor this adapter did not make.
        """
        _page, after = _parse_cursor(cursor)
        phrase = _phrase(query.target)
        area = query.area
        place = {
            "lat": round(area.lat, 6),
            "lon": round(area.lon, 6),
            "radius": _radius_miles(area.radius_km),
        }
        dates = {
            "startDateRange": _format_instant(query.window.start, ceil=False),
            "endDateRange": _format_instant(query.window.end, ceil=True),
        }
        if phrase is None:
            document = _RECOMMENDED_DOCUMENT
            search_filter: dict[str, Any] = {**place, **dates}
        else:
            document = _SEARCH_DOCUMENT
            search_filter = {"query": phrase, **place, **dates, "doConsolidateEvents": False}
        variables: dict[str, Any] = {"filter": search_filter, "first": self.page_size}
        if after is not None:
            variables["after"] = after
        return ApiRequest(
            method="POST",
            path="",
            headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
            json={"query": document, "variables": variables},
        )

    # ------------------------------------------------------------------ pages

    def parse_page(self, query: Query, cursor: Any | None, status: int, body: Any) -> Page:
        """One response → ``Page(records, next_cursor, total=totalCount)``.

        Records are the ``edges[].node`` objects of ``data.eventSearch`` (or
        ``data.recommendedEvents``). The next cursor is set while ``hasNextPage`` holds,
        the page had records and the next page starts inside the cap.

        Errors: SourceAuthError (HTTP 401/403, or GraphQL errors about authentication
        with no data), SourceRateLimited (HTTP 429, or GraphQL rate-limit errors with no
        data), UpstreamError (other GraphQL errors with no data, other non-2xx, a body of
        the wrong shape). Errors next to usable data are field-level and the page is
        kept. Messages never contain the token.
        """
        page_no, _after = _parse_cursor(cursor)
        field = "recommendedEvents" if _phrase(query.target) is None else "eventSearch"
        if status in (401, 403):
            raise SourceAuthError(
                _SOURCE, self._scrub(f"token refused (HTTP {status}{_said(body)})")
            )
        if status == 429:
            raise SourceRateLimited(_SOURCE, self._scrub(f"rate limited (HTTP 429{_said(body)})"))
        errors = _graphql_errors(body)
        connection = _connection(body, field) if 200 <= status < 300 else None
        if connection is None:
            if errors:
                raise self._classify(errors, status)
            if not 200 <= status < 300:
                detail = self._scrub(_message(body) or "")
                kind = "server error" if status >= 500 else "unexpected status"
                raise UpstreamError(
                    _SOURCE,
                    f"HTTP {status} {kind}" + (f": {detail}" if detail else ""),
                    status=status,
                )
            raise _bad_body(f"no 'data.{field}' connection")
        records, total, has_next, end_cursor = _page_parts(connection, field)
        return Page(records, self._next(page_no, records, has_next, end_cursor), total=total)

    def _next(
        self,
        page_no: int,
        records: list[dict[str, Any]],
        has_next: bool,
        end_cursor: str | None,
    ) -> str | None:
        """The cursor of the next page, or None at the end or at the cap."""
        following = page_no + 1
        if not has_next or not records or following * self.page_size >= _PAGE_CAP:
            return None
        if end_cursor is None:
            raise _bad_body("'pageInfo.hasNextPage' without an 'endCursor'")
        return f"{following}:{end_cursor}"

    def _classify(self, errors: list[tuple[str, str]], status: int) -> SourceError:
        """The exception for GraphQL errors that came without usable data."""
        codes = {code.upper() for code, _ in errors if code}
        texts = [text.casefold() for _, text in errors]
        code, text = errors[0]
        what = self._scrub(f"{code}: {text}" if code else text) or "no message"
        if codes & _RATE_CODES or any(m in t for t in texts for m in _RATE_MARKERS):
            return SourceRateLimited(_SOURCE, f"rate limited (HTTP {status}, {what})")
        if codes & _AUTH_CODES or any(m in t for t in texts for m in _AUTH_MARKERS):
            return SourceAuthError(_SOURCE, f"token refused (HTTP {status}, {what})")
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return UpstreamError(
            _SOURCE,
            f"GraphQL error (HTTP {status}): {what}{more}",
            status=status,
            code=code or None,
        )

    def _scrub(self, text: str) -> str:
        """Provider text made safe for one-line messages: no token, no newlines, short."""
        text = text.replace(self._token, "[redacted]")
        text = _BEARER.sub(r"\1[redacted]", text)
        text = " ".join(text.split())
        if len(text) > _MAX_PROVIDER_TEXT:
            text = text[: _MAX_PROVIDER_TEXT - 1] + "…"
        return text

    # ------------------------------------------------------------------ records

    def record_id(self, record: dict[str, Any]) -> str | None:
        """The event's stable ``token`` when it is a non-blank string, else None.

        (``id`` is not used: Meetup documents it as unstable for recurring events.)
        """
        value = record.get("token")
        if isinstance(value, str) and value.strip():
            return value
        return None

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Event:
        """One event node → Event.

        The start is ``dateTime`` with its own offset (a value without an offset is read
        in the group's zone); the end is ``endTime``, else start + ``duration``, and is
        dropped when unreadable or before the start. The venue is the first physical
        one; online venues (and their junk coordinates) are ignored.

        RecordRejected reasons: ``missing_id``, ``missing_title``, ``online_event``
        (``eventType`` ONLINE, or only online venues), ``unpublished`` (draft, proposed,
        template … statuses), ``missing_start``, ``bad_date``, ``missing_timezone``.
        """
        source_id = self.record_id(record)
        if source_id is None:
            raise RecordRejected("missing_id", "no string 'token'")
        title = _text(record.get("title"))
        if title is None:
            raise RecordRejected("missing_title", "no non-blank 'title'")
        venue = _physical_venue(record, source_id)
        status = _status(record.get("status"), source_id)

        group = _dict(record.get("group"))
        zone_name, zone = _zone(group.get("timezone"))
        starts_local = _parse_datetime(record.get("dateTime"), "dateTime", zone)
        if starts_local is None:
            raise RecordRejected("missing_start", "no 'dateTime'")
        starts_at = _to_utc(starts_local, "dateTime")
        if zone is not None and starts_local.utcoffset() != starts_at.astimezone(zone).utcoffset():
            zone_name = None  # the group's home zone is not where this event happens
        ends_at = _end(record, zone, starts_at)
        lat, lon = _coords(venue)
        price_min, price_max, currency, is_free = _fees(record.get("feeSettings"))

        return Event(
            source=self.name,
            source_id=source_id,
            title=title,
            starts_at=starts_at,
            timezone=zone_name,
            ends_at=ends_at,
            description=_text(record.get("description")),
            venue_name=_text(venue.get("name")),
            address=_text(venue.get("address")),
            locality=_text(venue.get("city")),
            postal_code=_postal_code(venue.get("postalCode"), venue.get("country")),
            country=_country(venue.get("country")),
            lat=lat,
            lon=lon,
            price_min=price_min,
            price_max=price_max,
            currency=currency,
            is_free=is_free,
            url=_http_url(record.get("eventUrl")),
            image_url=_image(record.get("featuredEventPhoto")),
            status=status,
            fetched_at=fetched_at,
            raw=record,
        )


# --------------------------------------------------------------------------- requests


def _parse_cursor(cursor: Any | None) -> tuple[int, str | None]:
    """(page number, Meetup cursor) of our cursor; (0, None) for the first page."""
    if cursor is None:
        return 0, None
    if isinstance(cursor, str):
        page, sep, after = cursor.partition(":")
        if sep and page.isdigit() and int(page) >= 1 and after:
            return int(page), after
    raise ValueError(f"not a Meetup cursor: {cursor!r}")


def _phrase(target: str | None) -> str | None:
    """The search phrase of a query target; None for the area feed."""
    if target is None:
        return None
    if target.startswith(_SEARCH_PREFIX) and target[len(_SEARCH_PREFIX) :].strip():
        return target[len(_SEARCH_PREFIX) :].strip()
    raise ValueError(f"not a Meetup query target: {target!r}")


def _radius_miles(radius_km: float) -> float:
    """The radius in whole miles, rounded up so the circle sent covers the area."""
    return float(max(1, math.ceil(radius_km / _KM_PER_MILE - 1e-9)))


def _format_instant(value: dt.datetime, *, ceil: bool) -> str:
    """``YYYY-MM-DDTHH:MM:SS+00:00``, sub-seconds floored (or ceiled with ``ceil``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    whole = value.replace(microsecond=0)
    if ceil and whole != value:
        whole += dt.timedelta(seconds=1)
    return whole.isoformat()


# --------------------------------------------------------------------------- pages

_RATE_CODES = frozenset(
    {"RATE_LIMITED", "RATE_LIMIT", "RATE_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS", "THROTTLED"}
)
_RATE_MARKERS = ("rate limit", "rate-limit", "too many requests", "throttl")
_AUTH_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "UNAUTHORIZED",
        "FORBIDDEN",
        "AUTH_ERROR",
        "AUTHENTICATION_ERROR",
        "INVALID_TOKEN",
        "TOKEN_EXPIRED",
        "ACCESS_DENIED",
    }
)
_AUTH_MARKERS = (
    "unauthorized",
    "unauthenticated",
    "not authorized",
    "not authenticated",
    "authentication",
    "invalid token",
    "invalid access token",
    "expired token",
    "token expired",
    "token has expired",
)
_BEARER = re.compile(r"(bearer\s+)\S+", re.IGNORECASE)


def _graphql_errors(body: Any) -> list[tuple[str, str]]:
    """(code, message) of each GraphQL error; code from ``extensions.code`` or
    graphql-java's ``extensions.classification``, "" when neither is a string."""
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return []
    found = []
    for error in body["errors"]:
        if not isinstance(error, dict):
            continue
        extensions = _dict(error.get("extensions"))
        code = extensions.get("code")
        if not isinstance(code, str):
            code = extensions.get("classification")
        message = error.get("message")
        found.append(
            (code if isinstance(code, str) else "", message if isinstance(message, str) else "")
        )
    return found


def _message(body: Any) -> str | None:
    """A top-level ``message`` (gateway errors such as the deprecated-endpoint 503)."""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return None


def _said(body: Any) -> str:
    """``": <provider text>"`` from a GraphQL error or gateway message, else ""."""
    errors = _graphql_errors(body)
    text = errors[0][1] if errors else _message(body)
    return f": {text}" if text else ""


def _connection(body: Any, field: str) -> dict[str, Any] | None:
    """``data.<field>`` when it is an object, else None."""
    if not isinstance(body, dict):
        return None
    value = _dict(body.get("data")).get(field)
    return value if isinstance(value, dict) else None


def _page_parts(
    connection: dict[str, Any], field: str
) -> tuple[list[dict[str, Any]], int | None, bool, str | None]:
    """(records, totalCount, hasNextPage, endCursor) of a connection; UpstreamError if malformed."""
    edges = connection.get("edges")
    if not isinstance(edges, list):
        raise _bad_body(f"'data.{field}.edges' is not a list")
    # A null edge or node is what GraphQL leaves where a record failed to resolve.
    records = [
        node
        for edge in edges
        if isinstance(edge, dict) and isinstance(node := edge.get("node"), dict)
    ]
    total = connection.get("totalCount")
    if not (isinstance(total, int) and not isinstance(total, bool) and total >= 0):
        total = None
    info = connection.get("pageInfo")
    if not isinstance(info, dict):
        raise _bad_body(f"no 'data.{field}.pageInfo' object")
    end_cursor = info.get("endCursor")
    return (
        records,
        total,
        info.get("hasNextPage") is True,
        end_cursor if isinstance(end_cursor, str) and end_cursor else None,
    )


def _bad_body(what: str) -> UpstreamError:
    return UpstreamError(_SOURCE, f"unexpected response body: {what}")


# --------------------------------------------------------------------------- records

_STATUSES = {
    "ACTIVE": "scheduled",
    "PAST": "scheduled",
    "CANCELLED": "cancelled",
    "CANCELLED_PERM": "cancelled",
}
_UNPUBLISHED = frozenset({"DRAFT", "PENDING", "PROPOSED", "BLOCKED", "TEMPLATE"})
#: Legacy zone names Meetup uses on groups → the canonical IANA zone they link to.
_LEGACY_ZONES = {
    "US/Eastern": "America/New_York",
    "US/Central": "America/Chicago",
    "US/Mountain": "America/Denver",
    "US/Pacific": "America/Los_Angeles",
    "US/Arizona": "America/Phoenix",
    "US/Alaska": "America/Anchorage",
    "US/Hawaii": "Pacific/Honolulu",
    "US/East-Indiana": "America/Indiana/Indianapolis",
    "US/Michigan": "America/Detroit",
    "Canada/Eastern": "America/Toronto",
    "Canada/Central": "America/Winnipeg",
    "Canada/Mountain": "America/Edmonton",
    "Canada/Pacific": "America/Vancouver",
    "Canada/Atlantic": "America/Halifax",
    "Canada/Newfoundland": "America/St_Johns",
    "GB": "Europe/London",
}
_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)
_US_ZIP = re.compile(r"\d{5}(?:-\d{4})?")
_POSTAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{1,9}")


def _number(value: Any) -> float | None:
    """A finite float from a JSON number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _http_url(value: Any) -> str | None:
    text = _text(value)
    if text is not None and text.lower().startswith(("https://", "http://")):
        return text
    return None


# ---- venue


def _is_online(venue: dict[str, Any]) -> bool:
    return (_text(venue.get("venueType")) or "").casefold() == "online"


def _physical_venue(record: dict[str, Any], source_id: str) -> dict[str, Any]:
    """The first in-person venue ({} when none is listed); online-only events are rejected."""
    venues = [v for v in _list(record.get("venues")) if isinstance(v, dict)]
    physical = next((v for v in venues if not _is_online(v)), None)
    event_type = (_text(record.get("eventType")) or "").upper()
    if event_type == "ONLINE":
        raise RecordRejected("online_event", f"{source_id} has eventType ONLINE")
    if physical is None and venues and event_type not in ("PHYSICAL", "HYBRID"):
        raise RecordRejected("online_event", f"{source_id} lists only online venues")
    return physical or {}


def _coords(venue: dict[str, Any]) -> tuple[float | None, float | None]:
    """(lat, lon) of a physical venue; (None, None) if missing, off the Earth or (0, 0)."""
    lat, lon = _number(venue.get("lat")), _number(venue.get("lon"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    if lat == 0 and lon == 0:
        return None, None
    return lat, lon


def _country(value: Any) -> str | None:
    """ISO 3166 alpha-2, upper-cased (Meetup sends ``"us"``); None when not two letters."""
    text = _text(value)
    if text is not None and len(text) == 2 and text.isascii() and text.isalpha():
        return text.upper()
    return None


def _postal_code(value: Any, country: Any) -> str | None:
    """A plausible postal code; Meetup's placeholders (``"meetup1"``) become None."""
    text = _text(value)
    if text is None or "meetup" in text.casefold():
        return None
    if _country(country) == "US":
        return text if _US_ZIP.fullmatch(text) else None
    if _POSTAL.fullmatch(text) and any(c.isdigit() for c in text):
        return text
    return None


# ---- time


def _zone(value: Any) -> tuple[str | None, zoneinfo.ZoneInfo | None]:
    """The group's zone as (canonical IANA name, zone); (None, None) if absent or unknown.

    An unknown zone is not a reject: the event's offsets give its exact instants.
    """
    name = _text(value)
    if name is None:
        return None, None
    name = _LEGACY_ZONES.get(name, name)
    try:
        return name, zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None, None


def _parse_datetime(value: Any, where: str, zone: zoneinfo.ZoneInfo | None) -> dt.datetime | None:
    """An aware datetime (its own offset kept) from an ISO-8601 string; None when absent.

    A value without an offset is local time in ``zone`` (a time in a DST gap moves
    forward by the gap; an ambiguous one is its first occurrence).
    """
    if value is None:
        return None
    # A bare date is not a time: fromisoformat would read it as midnight.
    if isinstance(value, str) and len(value.strip()) > len("YYYY-MM-DD"):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
            if zone is None:
                raise RecordRejected(
                    "missing_timezone", f"{where} {_shown(value)} has no offset and no group zone"
                )
            return parsed.replace(tzinfo=zone)
    raise RecordRejected("bad_date", f"{where} {_shown(value)} is not an ISO-8601 date-time")


def _to_utc(value: dt.datetime, where: str) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise RecordRejected("bad_date", f"{where} is out of range") from None


def _duration(value: Any) -> dt.timedelta | None:
    """An ISO-8601 duration (``PT2H30M``, ``P1DT2H``); None when absent, invalid or zero."""
    text = _text(value)
    if text is None:
        return None
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groupdict().values()) or text.endswith("T"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    try:
        length = dt.timedelta(**parts)
    except OverflowError:
        return None
    return length if length > dt.timedelta(0) else None


def _end(
    record: dict[str, Any], zone: zoneinfo.ZoneInfo | None, starts_at: dt.datetime
) -> dt.datetime | None:
    """``endTime``, else start + ``duration``; None when neither is usable or it precedes the start.

    An unreadable end does not reject the event: the start is what places it.
    """
    ends_at: dt.datetime | None = None
    try:
        local = _parse_datetime(record.get("endTime"), "endTime", zone)
        if local is not None:
            ends_at = _to_utc(local, "endTime")
    except RecordRejected:
        ends_at = None
    if ends_at is None and (length := _duration(record.get("duration"))) is not None:
        try:
            ends_at = starts_at + length
        except OverflowError:
            ends_at = None
    if ends_at is not None and ends_at < starts_at:
        return None
    return ends_at


# ---- presentation


def _status(value: Any, source_id: str) -> str:
    """Our status for Meetup's; unpublished statuses are rejected, unknown ones scheduled."""
    code = (_text(value) or "").upper()
    if code in _UNPUBLISHED or code.startswith("AUTOSCHED"):
        raise RecordRejected("unpublished", f"{source_id} has status {code}")
    return _STATUSES.get(code, "scheduled")


def _fees(value: Any) -> tuple[float | None, float | None, str | None, bool | None]:
    """(price_min, price_max, currency, is_free) from ``feeSettings``.

    Null means free. A required fee is the price; an optional one (a suggested
    donation) leaves the event free with prices 0..amount. Unreadable settings say
    nothing.
    """
    if value is None:
        return None, None, None, True
    if not isinstance(value, dict):
        return None, None, None, None
    amount = _number(value.get("amount"))
    currency = _text(value.get("currency"))
    currency = currency.upper() if currency and len(currency) == 3 and currency.isalpha() else None
    if amount is None or amount < 0:
        return None, None, None, None
    if amount == 0:
        return None, None, None, True
    if value.get("required") is False:
        return 0.0, amount, currency, True
    return amount, amount, currency, False


def _image(photo: Any) -> str | None:
    """``highResUrl``, else ``standardUrl`` (``baseUrl`` alone is only a prefix)."""
    photo = _dict(photo)
    return _http_url(photo.get("highResUrl")) or _http_url(photo.get("standardUrl"))
