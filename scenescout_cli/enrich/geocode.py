"""Geocoding: coordinates for events that have an address but none of their own.

The pieces:

- :func:`normalise_address` — the cache key: one text per real address however a
  provider spells it.
- :class:`NominatimAdapter`, :class:`GoogleGeocodingAdapter` — pure request builders and
  response parsers (the :class:`Geocoder` protocol). Each also has the
  ``SourceAdapter`` shape, so a geocoder is driven by the same ``SourceClient`` as a
  source — token bucket, concurrency cap, deadline, retries, breaker and the httpx seam
  all live once, in ``sources/http.py``. Build the client with :func:`geocoder_client`.
- :func:`geocode` — cache first, then one lookup through the client; negative answers
  are cached too, so a rerun makes no calls. :class:`GeocodeService` adds single-flight:
  concurrent lookups of one address share one request.
- :class:`GeocodeCache` — the cache protocol (the store implements it on a table);
  :class:`MemoryGeocodeCache` for tests and one-off runs.

Provider facts (reference notes §5.7 and §6):

- **Nominatim** ``GET {base}/search?q=...&format=jsonv2&limit=1``. The public server's
  policy: at most 1 request/s summed over the whole application, an identifying
  ``User-Agent`` (stock library agents are blocked with 403), results cached. The body is
  a JSON array (``[]``: nothing found) whose items carry ``lat``/``lon`` as strings.
  403 → :class:`SourceAuthError` (blocked agent), 429 → :class:`SourceRateLimited`,
  other errors → :class:`UpstreamError`. Our agent is ``scenescout/<version>`` plus the
  operator's contact: **operators should set one** (a URL or ``mailto:``), as the policy
  asks, so the OSMF can reach them before blocking them. One client per process: its
  token bucket at 1/s is the process-wide limit.
- **Google Geocoding** ``GET {base}/geocode/json?address=...&key=...``. The outcome is
  ``status`` in the JSON body (HTTP 200): ``OK`` → the first result; ``ZERO_RESULTS`` →
  None; ``REQUEST_DENIED`` → :class:`SourceAuthError`; ``OVER_DAILY_LIMIT`` →
  :class:`SourceQuotaError`; ``OVER_QUERY_LIMIT`` → :class:`SourceRateLimited` (the
  client retries it with backoff); ``UNKNOWN_ERROR`` → :class:`UpstreamError` with
  ``code="UNKNOWN_ERROR"`` (retryable: :func:`geocode` tries it again, see
  :data:`RETRYABLE_CODES`); ``INVALID_REQUEST`` and anything else → :class:`UpstreamError`.
  ``key`` is a secret query parameter (redacted wherever the URL is shown).

Precision (``GeocodeResult.precision``): ``"rooftop"`` (a building or a named place),
``"street"`` (an interpolated house number or a street), ``"area"`` (the centre of a
postcode, locality or larger). From Nominatim's ``place_rank`` (≥ 30, 26–29, < 26) and
Google's ``location_type`` (``ROOFTOP``; ``RANGE_INTERPOLATED`` or a ``GEOMETRIC_CENTER``
of a route; ``APPROXIMATE`` or another ``GEOMETRIC_CENTER``).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
import unicodedata
from typing import Any, ClassVar, Final, Literal, Protocol

import attrs
import httpx
import trio

from .. import __version__
from ..errors import (
    ConfigError,
    RecordRejected,
    SourceAuthError,
    SourceQuotaError,
    SourceRateLimited,
    UpstreamError,
)
from ..model import Area, City, Event, Page, Query, Window
from ..sources.base import ApiRequest
from ..sources.http import RetryPolicy, SourceClient, TokenBucket

__all__ = [
    "DEFAULT_GEOCODER_URLS",
    "MISSING",
    "RETRYABLE_CODES",
    "GeocodeCache",
    "GeocodeResult",
    "GeocodeService",
    "Geocoder",
    "GoogleGeocodingAdapter",
    "MemoryGeocodeCache",
    "NominatimAdapter",
    "address_of",
    "geocode",
    "geocoder_client",
    "make_geocoder",
    "normalise_address",
]

#: Base URLs per ``SCENESCOUT_GEOCODER`` value (``SCENESCOUT_GEOCODER_URL`` overrides).
DEFAULT_GEOCODER_URLS: Final = {
    "nominatim": "https://nominatim.openstreetmap.org",
    "google": "https://maps.googleapis.com/maps/api",
}
#: ``UpstreamError.code`` values that :func:`geocode` tries again (Google: "the request
#: may succeed if you try again"); the HTTP client only retries by HTTP status.
RETRYABLE_CODES: Final = frozenset({"UNKNOWN_ERROR"})
_RETRIES = 2
_RETRY_DELAY = 1.0  # seconds before the first retry; doubled for the next

Precision = Literal["rooftop", "street", "area"]


# --------------------------------------------------------------------------- addresses

#: Words written in full in the cache key (abbreviation → word). "st" is decided by
#: position (see :func:`normalise_address`); single-letter compass points only before
#: another word of the same part ("W 56th St", not "Apt 4 E").
_ABBREVIATIONS: Final = {
    "ave": "avenue",
    "av": "avenue",
    "blvd": "boulevard",
    "rd": "road",
    "dr": "drive",
    "ln": "lane",
    "pl": "place",
    "sq": "square",
    "ct": "court",
    "pkwy": "parkway",
    "hwy": "highway",
    "tpke": "turnpike",
    "ter": "terrace",
    "terr": "terrace",
    "cres": "crescent",
    "hts": "heights",
    "mt": "mount",
    "ste": "suite",
    "apt": "apartment",
    "bldg": "building",
    "ft": "fort",
    "ne": "northeast",
    "nw": "northwest",
    "se": "southeast",
    "sw": "southwest",
}
_COMPASS: Final = {"n": "north", "s": "south", "e": "east", "w": "west"}
#: Tokens after which "st" still ends a street name ("Main St NW", "Main St Suite 4").
_AFTER_STREET: Final = frozenset(
    {*_COMPASS, *_COMPASS.values(), "ne", "nw", "se", "sw", "northeast", "northwest"}
    | {"southeast", "southwest", "suite", "ste", "apt", "apartment", "unit", "floor", "fl"}
)
_COUNTRIES: Final = {
    "united states": "usa",
    "united states of america": "usa",
    "us": "usa",
    "u s": "usa",
    "u s a": "usa",
    "united kingdom": "uk",
    "great britain": "uk",
    "gb": "uk",
}
_APOSTROPHES = re.compile(r"['’ʼ`]")
_DIGIT_HYPHEN = re.compile(r"(?<=\d)-(?=\d)")
_NON_WORD = re.compile(r"[^\w,#\x00]+|_+")
_HASH = re.compile(r"#\s*")


def normalise_address(text: str) -> str:
    """The cache key of an address: equal for spellings of one address.

    Steps: Unicode NFKC, casefold, accents removed; apostrophes dropped ("St. Mark's" →
    "saint marks"); "&" → "and"; every other punctuation mark a space, except commas
    (they separate parts), "#" (kept as "number") and a hyphen between digits (Queens
    house numbers, "37-10"); whitespace collapsed; empty and repeated parts dropped.
    Abbreviations written in full: Ave/Av → avenue, Blvd, Rd, Dr, Ln, Pl, Sq, Ct, Pkwy,
    Hwy, Tpke, Ter, Cres, Hts, Mt → mount, Ste → suite, Apt, Bldg, Ft → fort, NE/NW/SE/SW;
    N/S/E/W → north/south/east/west before another word of the same part; "St" →
    "street" as the last word of a part or before a compass point or unit word, else
    "saint" ("St Marks Pl" → "saint marks place"); country names → "usa"/"uk".

    Pure and total: any text gives a (possibly empty) string; never raises.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    text = unicodedata.normalize("NFC", text)
    text = _APOSTROPHES.sub("", text).replace("&", " and ")
    text = _DIGIT_HYPHEN.sub("\x00", text)  # keep 37-10 through the punctuation pass
    text = _HASH.sub(" number ", text)
    text = _NON_WORD.sub(" ", text).replace("\x00", "-")
    parts: list[str] = []
    for raw_part in text.split(","):
        words = raw_part.split()
        if not words:
            continue
        part = " ".join(_expand(words))
        part = _COUNTRIES.get(part, part)
        if not parts or parts[-1] != part:
            parts.append(part)
    return ", ".join(parts)


def _expand(words: list[str]) -> list[str]:
    out = []
    last = len(words) - 1
    for i, word in enumerate(words):
        following = words[i + 1] if i < last else None
        if word == "st":
            out.append("street" if following is None or following in _AFTER_STREET else "saint")
        elif word in _COMPASS and following is not None and following not in _AFTER_STREET:
            out.append(_COMPASS[word])
        else:
            out.append(_ABBREVIATIONS.get(word, word))
    return out


def address_of(event: Event) -> str | None:
    """The text to geocode for an event: street address, locality, postcode, country.

    Without a street address, the venue's name and locality ("Brooklyn Steel, Brooklyn")
    — both geocoders find named places. None when there is neither (a bare locality
    would only give the city's centre, which is worse than no coordinates).
    """
    head = event.address or event.venue_name
    if not head:
        return None
    parts = [head.strip()]
    seen = set(normalise_address(head).split(", "))
    for part in (event.locality, event.postal_code, event.country):
        key = normalise_address(part) if part else ""
        if part and key and key not in seen:
            seen.add(key)
            parts.append(part.strip())
    return ", ".join(parts)


# --------------------------------------------------------------------------- results


@attrs.frozen
class GeocodeResult:
    """Where an address is: WGS84 ``lat``/``lon``, how precisely, and the provider item.

    ``raw`` is the provider's result item as sent (no secrets: neither geocoder echoes
    the key in results); it is not part of equality.
    """

    lat: float
    lon: float
    precision: Precision
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    def as_record(self) -> dict[str, Any]:
        """A JSON-ready dict (the cache table's payload; a ``Page`` record)."""
        return {"lat": self.lat, "lon": self.lon, "precision": self.precision, "raw": self.raw}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> GeocodeResult:
        """The inverse of :meth:`as_record`; ValueError on a record it did not write."""
        lat, lon, precision = record.get("lat"), record.get("lon"), record.get("precision")
        if precision not in ("rooftop", "street", "area"):
            raise ValueError(f"unknown precision {precision!r}")
        checked = _coordinates(lat, lon)
        if checked is None:
            raise ValueError("lat/lon missing or out of range")
        raw = record.get("raw")
        return cls(checked[0], checked[1], precision, raw if isinstance(raw, dict) else {})


def _coordinates(lat: Any, lon: Any) -> tuple[float, float] | None:
    """(lat, lon) from numbers or numeric strings, in range and finite; else None."""
    values = []
    for value in (lat, lon):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        try:
            number = float(value)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        values.append(number)
    if not (-90 <= values[0] <= 90 and -180 <= values[1] <= 180):
        return None
    return values[0], values[1]


# --------------------------------------------------------------------------- adapters


class Geocoder(Protocol):
    """What :func:`geocode` needs from a geocoding provider. Pure: no I/O.

    ``parse`` returns None when the provider found nothing, and raises the project's
    ``SourceError`` subclasses for error answers (see the module docstring).
    """

    name: ClassVar[str]
    rate_per_second: ClassVar[float]
    rate_burst: ClassVar[float]

    def address_request(self, address: str) -> ApiRequest: ...

    def parse(self, status: int, body: Any) -> GeocodeResult | None: ...


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NOWHERE = Area(0.0, 0.0, 0.0)


def _query(source: str, address: str) -> Query:
    """The ``Query`` a geocoding lookup travels in through ``SourceClient``: the address is
    its ``target``; area and window play no part."""
    return Query(source, _NOWHERE, Window(_EPOCH, _EPOCH), target=address)


class _AsSource:
    """The ``SourceAdapter`` shape of a geocoder, so ``SourceClient`` can drive it.

    ``request``/``parse_page`` carry one lookup: the address is ``query.target``, the
    page holds zero or one record (``GeocodeResult.as_record``) and never a next cursor.
    A geocoder plans no queries and normalises no records.
    """

    page_cap: ClassVar[int] = 1

    def address_request(self, address: str) -> ApiRequest:
        raise NotImplementedError

    def parse(self, status: int, body: Any) -> GeocodeResult | None:
        raise NotImplementedError

    def plan(self, city: City, window: Window) -> list[Query]:
        return []

    def request(self, query: Query, cursor: Any | None) -> ApiRequest:
        if not query.target:
            raise ValueError("a geocoding query carries its address as target")
        return self.address_request(query.target)

    def parse_page(self, query: Query, cursor: Any | None, status: int, body: Any) -> Page:
        result = self.parse(status, body)
        records = [] if result is None else [result.as_record()]
        return Page(records, None, len(records))

    def record_id(self, record: dict[str, Any]) -> str | None:
        return None

    def normalise(self, record: dict[str, Any], fetched_at: dt.datetime) -> Event:
        raise RecordRejected("not_an_event", "geocoder results are not events")


def _check_contact(instance: Any, attribute: Any, value: str | None) -> None:
    if value is not None and (not value.strip() or any(ch in value for ch in "\r\n()")):
        raise ValueError("contact must be a non-empty URL or address without parentheses")


@attrs.frozen
class NominatimAdapter(_AsSource):
    """OpenStreetMap Nominatim (``/search``, jsonv2, one result).

    ``NominatimAdapter(contact=None)``: ``contact`` (a URL or ``mailto:`` address) goes
    into the ``User-Agent`` as ``scenescout/<version> (+<contact>)``; set it for the
    public server. ValueError on an empty contact or one with parentheses or newlines.
    Rate: 1 request/s, no burst.
    """

    name: ClassVar[str] = "nominatim"
    rate_per_second: ClassVar[float] = 1.0
    rate_burst: ClassVar[float] = 1.0

    contact: str | None = attrs.field(default=None, validator=_check_contact)

    @property
    def user_agent(self) -> str:
        agent = f"scenescout/{__version__}"
        return f"{agent} (+{self.contact.strip()})" if self.contact else agent

    def address_request(self, address: str) -> ApiRequest:
        """``GET /search?q=<address>&format=jsonv2&limit=1`` with our User-Agent."""
        return ApiRequest(
            "GET",
            "/search",
            params={"q": " ".join(address.split()), "format": "jsonv2", "limit": "1"},
            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
        )

    def parse(self, status: int, body: Any) -> GeocodeResult | None:
        """The first item of a jsonv2 array; None for ``[]``; SourceError for errors."""
        if status == 403:
            raise SourceAuthError(
                self.name,
                "HTTP 403: blocked by the usage policy (set an identifying User-Agent "
                "with a contact, and stay at 1 request/s)",
            )
        if status == 429:
            raise SourceRateLimited(self.name, "HTTP 429: more than 1 request/s")
        if status != 200:
            detail = _nominatim_error(body)
            raise UpstreamError(
                self.name, f"HTTP {status}{': ' + detail if detail else ''}", status=status
            )
        if not isinstance(body, list):
            raise UpstreamError(
                self.name, f"expected a JSON array, got {type(body).__name__}", status=status
            )
        if not body:
            return None
        item = body[0]
        if not isinstance(item, dict):
            raise UpstreamError(self.name, "result item is not an object", status=status)
        coordinates = _coordinates(item.get("lat"), item.get("lon"))
        if coordinates is None:
            raise UpstreamError(self.name, "result has no valid lat/lon", status=status)
        rank = item.get("place_rank")
        rank = rank if isinstance(rank, int) and not isinstance(rank, bool) else 0
        precision: Precision = "rooftop" if rank >= 30 else "street" if rank >= 26 else "area"
        return GeocodeResult(coordinates[0], coordinates[1], precision, item)


def _nominatim_error(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return message.strip()[:120] if isinstance(message, str) else ""


def _check_key(instance: Any, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a Google Geocoding API key is required")


_GOOGLE_PRECISION: Final[dict[str, Precision]] = {
    "ROOFTOP": "rooftop",
    "RANGE_INTERPOLATED": "street",
    "APPROXIMATE": "area",
}


@attrs.frozen
class GoogleGeocodingAdapter(_AsSource):
    """Google Geocoding (classic ``/geocode/json``); the outcome is the body's ``status``.

    ``GoogleGeocodingAdapter(api_key)``: the key is sent as the ``key`` parameter, marked
    secret (redacted in every shown URL), kept out of the repr and out of error messages.
    ValueError on an empty key. Rate: 10 requests/s, bursts of 10 (the project's default
    quota is 3,000 a minute).
    """

    name: ClassVar[str] = "google_geocoding"
    rate_per_second: ClassVar[float] = 10.0
    rate_burst: ClassVar[float] = 10.0

    _api_key: str = attrs.field(repr=False, validator=_check_key)

    def address_request(self, address: str) -> ApiRequest:
        """``GET /geocode/json?address=<address>&key=<key>``."""
        return ApiRequest(
            "GET",
            "/geocode/json",
            params={"address": " ".join(address.split()), "key": self._api_key},
            headers={"Accept": "application/json"},
            secret_params=frozenset({"key"}),
        )

    def parse(self, status: int, body: Any) -> GeocodeResult | None:
        """The first result for ``OK``; None for ``ZERO_RESULTS``; SourceError otherwise."""
        code = body.get("status") if isinstance(body, dict) else None
        if not isinstance(code, str):
            if status in (401, 403):
                raise SourceAuthError(self.name, f"HTTP {status}: key refused")
            if status == 429:
                raise SourceRateLimited(self.name, "HTTP 429")
            what = "HTTP {status}" if status != 200 else "a body without 'status'"
            raise UpstreamError(self.name, what.format(status=status), status=status)
        detail = self._message(body)
        if code == "OK":
            return self._first(body, status)
        if code == "ZERO_RESULTS":
            return None
        if code == "REQUEST_DENIED":
            raise SourceAuthError(self.name, f"REQUEST_DENIED{detail}")
        if code == "OVER_DAILY_LIMIT":
            raise SourceQuotaError(self.name, f"OVER_DAILY_LIMIT{detail}")
        if code == "OVER_QUERY_LIMIT":
            raise SourceRateLimited(self.name, f"OVER_QUERY_LIMIT{detail}")
        raise UpstreamError(self.name, f"{code}{detail}", status=status, code=code)

    def _message(self, body: dict[str, Any]) -> str:
        """``": <error_message>"``, shortened and with the key scrubbed, or ""."""
        message = body.get("error_message")
        if not isinstance(message, str) or not message.strip():
            return ""
        message = " ".join(message.split()).replace(self._api_key, "***")
        return f": {message[:160]}"

    def _first(self, body: dict[str, Any], status: int) -> GeocodeResult | None:
        results = body.get("results")
        if not isinstance(results, list):
            raise UpstreamError(self.name, "status OK without a 'results' list", status=status)
        if not results:
            return None
        item = results[0]
        geometry = item.get("geometry") if isinstance(item, dict) else None
        location = geometry.get("location") if isinstance(geometry, dict) else None
        if not isinstance(item, dict) or not isinstance(geometry, dict):
            raise UpstreamError(self.name, "result has no geometry", status=status)
        if not isinstance(location, dict):
            raise UpstreamError(self.name, "result has no geometry.location", status=status)
        coordinates = _coordinates(location.get("lat"), location.get("lng"))
        if coordinates is None:
            raise UpstreamError(self.name, "result has no valid lat/lng", status=status)
        location_type = geometry.get("location_type")
        precision = _GOOGLE_PRECISION.get(location_type if isinstance(location_type, str) else "")
        if precision is None:  # GEOMETRIC_CENTER, or a type we do not know
            types = item.get("types")
            on_route = isinstance(types, list) and "route" in types
            precision = "street" if on_route else "area"
        return GeocodeResult(coordinates[0], coordinates[1], precision, item)


def make_geocoder(
    kind: str, *, api_key: str | None = None, contact: str | None = None
) -> NominatimAdapter | GoogleGeocodingAdapter:
    """The adapter for ``SCENESCOUT_GEOCODER`` (``nominatim`` or ``google``).

    ConfigError for another name, for ``google`` without ``GOOGLE_MAPS_API_KEY``
    (``api_key``), and for a malformed ``contact``.
    """
    if kind == "nominatim":
        try:
            return NominatimAdapter(contact)
        except ValueError as exc:
            raise ConfigError(f"geocoder contact: {exc}") from None
    if kind == "google":
        if not api_key:
            raise ConfigError("SCENESCOUT_GEOCODER=google needs GOOGLE_MAPS_API_KEY")
        return GoogleGeocodingAdapter(api_key)
    raise ConfigError(f"SCENESCOUT_GEOCODER must be 'nominatim' or 'google', not {kind!r}")


def geocoder_client(
    adapter: NominatimAdapter | GoogleGeocodingAdapter,
    base_url: str,
    http: httpx.AsyncClient,
    *,
    retry: RetryPolicy | None = None,
    request_timeout: float = 30.0,
) -> SourceClient:
    """A ``SourceClient`` for a geocoder, at the adapter's documented rate.

    Make **one per process** and share it: its token bucket is what keeps Nominatim at
    1 request/s across every task. Nominatim requests go one at a time (concurrency 1).
    The caller owns ``http`` (opened with ``async with``).
    """
    concurrency = 1 if isinstance(adapter, NominatimAdapter) else 4
    return SourceClient(
        adapter,
        base_url,
        http,
        TokenBucket(adapter.rate_per_second, adapter.rate_burst),
        trio.CapacityLimiter(concurrency),
        request_timeout=request_timeout,
        retry=retry or RetryPolicy(),
    )


# --------------------------------------------------------------------------- cache


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


#: What :meth:`GeocodeCache.get` returns for an address it has never seen (None is a
#: cached "nothing found").
MISSING: Final = _Missing.MISSING


class GeocodeCache(Protocol):
    """Geocoding answers by normalised address (:func:`normalise_address`).

    ``get`` returns the cached result, None for a cached "not found", or
    :data:`MISSING`; ``put`` stores either. The store's implementation may expire
    negative entries (the provider's data grows); errors are never cached.
    """

    async def get(self, normalised: str) -> GeocodeResult | _Missing | None: ...

    async def put(self, normalised: str, result: GeocodeResult | None) -> None: ...


class MemoryGeocodeCache:
    """A :class:`GeocodeCache` in a dict, for tests and runs without a database."""

    def __init__(self) -> None:
        self.entries: dict[str, GeocodeResult | None] = {}

    async def get(self, normalised: str) -> GeocodeResult | _Missing | None:
        await trio.lowlevel.checkpoint()
        return self.entries.get(normalised, MISSING)

    async def put(self, normalised: str, result: GeocodeResult | None) -> None:
        await trio.lowlevel.checkpoint()
        self.entries[normalised] = result


# --------------------------------------------------------------------------- lookups


class _PageFetcher(Protocol):
    async def fetch_page(self, query: Query, cursor: Any | None) -> Page: ...


async def geocode(
    address: str, *, client: _PageFetcher, cache: GeocodeCache
) -> GeocodeResult | None:
    """Coordinates of ``address``: from the cache, else one lookup through ``client``.

    The cache key is :func:`normalise_address`; a blank address returns None without a
    lookup. The answer — a result or None (nothing found) — is cached before it is
    returned, so the same address is never looked up twice. Errors are not cached and
    propagate as the client raises them (``SourceError`` subclasses: auth, quota,
    rate-limited after the client's retries, upstream, unavailable); an ``UpstreamError``
    whose ``code`` is in :data:`RETRYABLE_CODES` is tried twice more first (1 s, then
    2 s apart, on Trio's clock). Cancellation propagates at once.
    """
    key = normalise_address(address)
    if not key:
        return None
    cached = await cache.get(key)
    if cached is not MISSING:
        assert not isinstance(cached, _Missing)
        return cached
    page = await _fetch(client, _query("geocoder", address))
    result = GeocodeResult.from_record(page.records[0]) if page.records else None
    await cache.put(key, result)
    return result


async def _fetch(client: _PageFetcher, query: Query) -> Page:
    """One lookup; an UpstreamError with a retryable code is tried ``_RETRIES`` more times."""
    delay = _RETRY_DELAY
    retries = 0
    while True:
        try:
            return await client.fetch_page(query, None)
        except UpstreamError as exc:
            if exc.code not in RETRYABLE_CODES or retries == _RETRIES:
                raise
        retries += 1
        await trio.sleep(delay)
        delay *= 2


#: Geocoder answers a ``GeocodeService`` keeps in memory.
MEMO_SIZE = 20_000


@attrs.define
class GeocodeService:
    """:func:`geocode` with single-flight and counters, for the processing stage.

    Concurrent lookups of one normalised address wait for the first one and then read
    its answer from the cache; if the first one failed, the next waiter tries itself.
    Answers are also kept in memory (up to :data:`MEMO_SIZE` addresses), so a venue's
    hundred events cost one cache read, not a hundred database round trips.
    Counters: ``lookups`` (requests that went out), ``hits`` (answered by the cache),
    ``found`` and ``not_found`` (lookup outcomes). Errors as :func:`geocode`.
    """

    client: _PageFetcher
    cache: GeocodeCache
    lookups: int = 0
    hits: int = 0
    found: int = 0
    not_found: int = 0
    _inflight: dict[str, trio.Event] = attrs.field(factory=dict, init=False)
    _memo: dict[str, GeocodeResult | None] = attrs.field(factory=dict, init=False)

    async def geocode(self, address: str) -> GeocodeResult | None:
        key = normalise_address(address)
        if not key:
            return None
        if key in self._memo:
            self.hits += 1
            return self._memo[key]
        while True:
            cached = await self.cache.get(key)
            if cached is not MISSING:
                assert not isinstance(cached, _Missing)
                self.hits += 1
                self._remember(key, cached)
                return cached
            running = self._inflight.get(key)
            if running is None:
                break
            await running.wait()
        done = self._inflight[key] = trio.Event()
        try:
            self.lookups += 1
            result = await geocode(address, client=self.client, cache=_Uncached(self.cache))
        finally:
            del self._inflight[key]
            done.set()
        if result is None:
            self.not_found += 1
        else:
            self.found += 1
        self._remember(key, result)
        return result

    def _remember(self, key: str, result: GeocodeResult | None) -> None:
        if len(self._memo) >= MEMO_SIZE:
            del self._memo[next(iter(self._memo))]  # the oldest answer
        self._memo[key] = result


@attrs.frozen
class _Uncached:
    """A cache view that always misses on ``get`` (the service has just looked) but
    writes through on ``put``."""

    inner: GeocodeCache

    async def get(self, normalised: str) -> GeocodeResult | _Missing | None:
        await trio.lowlevel.checkpoint()
        return MISSING

    async def put(self, normalised: str, result: GeocodeResult | None) -> None:
        await self.inner.put(normalised, result)
