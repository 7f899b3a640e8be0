"""Geocoding: address normalisation, both providers' requests and answers, and lookups
through the real SourceClient on a MockTransport (cache, negative cache, rate, retries)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing

from scenescout_cli import __version__
from scenescout_cli.enrich.geocode import (
    MISSING,
    GeocodeResult,
    GeocodeService,
    GoogleGeocodingAdapter,
    MemoryGeocodeCache,
    NominatimAdapter,
    address_of,
    geocode,
    geocoder_client,
    make_geocoder,
    normalise_address,
)
from scenescout_cli.errors import (
    ConfigError,
    SourceAuthError,
    SourceQuotaError,
    SourceRateLimited,
    UpstreamError,
)
from scenescout_cli.model import Event
from scenescout_cli.sources.http import REDACTED, RetryPolicy, redacted_url

KEY = "AIzaSy-SECRET-KEY"
NOMINATIM = "https://nominatim.example.test"
GOOGLE = "https://maps.example.test/maps/api"

# jsonv2 as the public server renders it: lat/lon strings, place_id an int.
NOMINATIM_HIT = [
    {
        "place_id": 331812075,
        "licence": "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright",
        "osm_type": "way",
        "osm_id": 265289853,
        "lat": "40.7699140",
        "lon": "-73.9927050",
        "category": "building",
        "type": "yes",
        "place_rank": 30,
        "importance": 0.00008,
        "addresstype": "building",
        "name": "",
        "display_name": "610, West 56th Street, Hell's Kitchen, Manhattan, New York, 10019, "
        "United States",
        "boundingbox": ["40.7695", "40.7702", "-73.9932", "-73.9921"],
    }
]
GOOGLE_OK = {
    "results": [
        {
            "address_components": [
                {"long_name": "610", "short_name": "610", "types": ["street_number"]},
                {"long_name": "West 56th Street", "short_name": "W 56th St", "types": ["route"]},
            ],
            "formatted_address": "610 W 56th St, New York, NY 10019, USA",
            "geometry": {
                "location": {"lat": 40.769914, "lng": -73.992705},
                "location_type": "ROOFTOP",
                "viewport": {
                    "northeast": {"lat": 40.7712, "lng": -73.9913},
                    "southwest": {"lat": 40.7686, "lng": -73.994},
                },
            },
            "place_id": "ChIJ2eUgeAK6j4ARbn5u_wAGqWA",
            "types": ["street_address"],
        }
    ],
    "status": "OK",
}


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("610 W 56th St, New York, NY 10019", "610 West 56th Street,  New York,NY 10019"),
        ("620 Atlantic Ave., Brooklyn", "620 ATLANTIC AVENUE, BROOKLYN"),
        ("12 St. Mark's Pl", "12 Saint Marks Place"),
        ("1 Main St NW, Suite 4", "1 Main Street Northwest, Ste 4"),
        ("Café Wha?, 115 Macdougal St", "Cafe Wha, 115 MacDougal Street"),
        ("4 Pennsylvania Plaza, New York, USA", "4 Pennsylvania Plaza, New York, United States"),
        ("５ Ｅ 5th St", "5 East 5th Street"),  # full-width digits and letters (NFKC)
        ("Bar & Grill, 3 Elm Rd", "Bar and Grill, 3 Elm Road"),
    ],
)
def test_spellings_of_one_address_normalise_alike(one: str, other: str) -> None:
    """Case, accents, punctuation, spacing and abbreviations do not change the key."""
    assert normalise_address(one) == normalise_address(other)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("610 W 56th St, New York, NY 10019", "610 west 56th street, new york, ny 10019"),
        ("37-10 30th St, Queens", "37-10 30th street, queens"),
        ("12 St Marks Pl", "12 saint marks place"),
        ("Apt 4 E, 9 Elm St", "apartment 4 e, 9 elm street"),
        ("100 Broadway #5, , New York, New York", "100 broadway number 5, new york"),
        ("  ,  ", ""),
        ("", ""),
    ],
)
def test_normalised_address_examples(text: str, expected: str) -> None:
    """The documented rules, one example each: St by position, digit hyphens, #, parts."""
    assert normalise_address(text) == expected


def test_address_of_prefers_the_street_address_and_falls_back_to_the_venue_name() -> None:
    """The geocodable text: street, locality, postcode, country; else venue and locality."""
    base = Event("yelp", "x", "Show", None, None, locality="Brooklyn", country="US")
    with_address = attrs.evolve(base, address="61 Wythe Ave", postal_code="11249")
    assert address_of(with_address) == "61 Wythe Ave, Brooklyn, 11249, US"
    assert address_of(attrs.evolve(base, venue_name="Brooklyn Bowl")) == (
        "Brooklyn Bowl, Brooklyn, US"
    )
    repeats = attrs.evolve(base, address="61 Wythe Ave, Brooklyn", country=None)
    assert address_of(repeats) == "61 Wythe Ave, Brooklyn"
    assert address_of(base) is None


# --------------------------------------------------------------------------- requests


def test_nominatim_request_identifies_scenescout_and_its_operator() -> None:
    """GET /search, jsonv2, one result, and a User-Agent with our version and the contact."""
    request = NominatimAdapter("mailto:ops@example.org").address_request("610 W 56th St,  NY")
    assert (request.method, request.path) == ("GET", "/search")
    assert request.params == {"q": "610 W 56th St, NY", "format": "jsonv2", "limit": "1"}
    assert request.headers["User-Agent"] == f"scenescout/{__version__} (+mailto:ops@example.org)"
    assert NominatimAdapter().user_agent == f"scenescout/{__version__}"
    with pytest.raises(ValueError, match="contact"):
        NominatimAdapter("bad (contact)")


def test_google_request_marks_the_key_secret() -> None:
    """The key is sent as ``key`` but redacted from shown URLs and from the adapter's repr."""
    adapter = GoogleGeocodingAdapter(KEY)
    request = adapter.address_request("610 W 56th St")
    assert request.path == "/geocode/json"
    assert request.params == {"address": "610 W 56th St", "key": KEY}
    assert request.secret_params == frozenset({"key"})
    url = httpx.URL(GOOGLE + request.path, params=request.params)
    assert KEY not in redacted_url(url, request.secret_params)
    assert f"key={REDACTED}" in redacted_url(url, request.secret_params)
    assert KEY not in repr(adapter)
    with pytest.raises(ValueError, match="key"):
        GoogleGeocodingAdapter("  ")


def test_make_geocoder_reads_the_setting() -> None:
    """nominatim by default; google needs the key; anything else is a ConfigError."""
    assert isinstance(make_geocoder("nominatim", contact="https://example.org"), NominatimAdapter)
    assert isinstance(make_geocoder("google", api_key=KEY), GoogleGeocodingAdapter)
    with pytest.raises(ConfigError, match="GOOGLE_MAPS_API_KEY"):
        make_geocoder("google")
    with pytest.raises(ConfigError, match="'nominatim' or 'google'"):
        make_geocoder("mapbox")
    with pytest.raises(ConfigError, match="contact"):
        make_geocoder("nominatim", contact="")


# --------------------------------------------------------------------------- answers


def test_nominatim_hit_becomes_a_result() -> None:
    """String coordinates are parsed; place_rank 30 is a rooftop; the item is kept as raw."""
    result = NominatimAdapter().parse(200, NOMINATIM_HIT)
    assert result == GeocodeResult(40.769914, -73.992705, "rooftop")
    assert result is not None
    assert result.raw["osm_id"] == 265289853


@pytest.mark.parametrize(("rank", "precision"), [(30, "rooftop"), (26, "street"), (16, "area")])
def test_nominatim_precision_follows_place_rank(rank: int, precision: str) -> None:
    """Buildings and POIs are rooftops, roads streets, localities and up areas."""
    item = {**NOMINATIM_HIT[0], "place_rank": rank}
    result = NominatimAdapter().parse(200, [item])
    assert result is not None
    assert result.precision == precision


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (403, None, SourceAuthError, "User-Agent"),
        (429, None, SourceRateLimited, "1 request/s"),
        (
            400,
            {"error": {"code": 400, "message": "Nothing to search for."}},
            UpstreamError,
            "Nothing",
        ),
        (503, None, UpstreamError, "HTTP 503"),
        (200, {"error": "x"}, UpstreamError, "JSON array"),
        (200, [{"lat": "north", "lon": "0"}], UpstreamError, "lat/lon"),
        (200, [{"lat": "91", "lon": "0"}], UpstreamError, "lat/lon"),
    ],
)
def test_nominatim_errors_map_onto_the_error_tree(
    status: int, body: Any, error: type[Exception], match: str
) -> None:
    """Blocked agent → auth, 429 → rate-limited, anything else unusable → upstream."""
    with pytest.raises(error, match=match):
        NominatimAdapter().parse(status, body)


def test_nominatim_nothing_found_is_none() -> None:
    """An empty array is a clean "not found"."""
    assert NominatimAdapter().parse(200, []) is None


@pytest.mark.parametrize(
    ("location_type", "types", "precision"),
    [
        ("ROOFTOP", ["street_address"], "rooftop"),
        ("RANGE_INTERPOLATED", ["street_address"], "street"),
        ("GEOMETRIC_CENTER", ["route"], "street"),
        ("GEOMETRIC_CENTER", ["postal_code"], "area"),
        ("APPROXIMATE", ["locality", "political"], "area"),
    ],
)
def test_google_ok_becomes_a_result(location_type: str, types: list[str], precision: str) -> None:
    """Status OK: the first result's location, its precision from location_type."""
    body = json.loads(json.dumps(GOOGLE_OK))
    body["results"][0]["geometry"]["location_type"] = location_type
    body["results"][0]["types"] = types
    result = GoogleGeocodingAdapter(KEY).parse(200, body)
    assert result == GeocodeResult(40.769914, -73.992705, precision)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        ("REQUEST_DENIED", SourceAuthError, "REQUEST_DENIED"),
        ("OVER_DAILY_LIMIT", SourceQuotaError, "OVER_DAILY_LIMIT"),
        ("OVER_QUERY_LIMIT", SourceRateLimited, "OVER_QUERY_LIMIT"),
        ("UNKNOWN_ERROR", UpstreamError, "UNKNOWN_ERROR"),
        ("INVALID_REQUEST", UpstreamError, "INVALID_REQUEST"),
        ("SOMETHING_NEW", UpstreamError, "SOMETHING_NEW"),
    ],
)
def test_google_status_in_the_body_maps_onto_the_error_tree(
    status: str, error: type[Exception], match: str
) -> None:
    """The body's status decides, with HTTP 200, and the key never reaches the message."""
    body = {"results": [], "status": status, "error_message": f"Bad key {KEY}."}
    with pytest.raises(error, match=match) as caught:
        GoogleGeocodingAdapter(KEY).parse(200, body)
    assert KEY not in str(caught.value)
    if isinstance(caught.value, UpstreamError):
        assert caught.value.code == status


def test_google_zero_results_is_none_and_bodies_without_status_are_errors() -> None:
    """ZERO_RESULTS is "not found"; an HTML error page is judged by its HTTP status."""
    adapter = GoogleGeocodingAdapter(KEY)
    assert adapter.parse(200, {"results": [], "status": "ZERO_RESULTS"}) is None
    with pytest.raises(SourceAuthError):
        adapter.parse(403, None)
    with pytest.raises(SourceRateLimited):
        adapter.parse(429, None)
    with pytest.raises(UpstreamError, match="HTTP 502"):
        adapter.parse(502, None)
    with pytest.raises(UpstreamError, match="without 'status'"):
        adapter.parse(200, {"results": []})


def test_result_record_round_trip() -> None:
    """as_record/from_record are inverse (the cache table's payload)."""
    result = NominatimAdapter().parse(200, NOMINATIM_HIT)
    assert result is not None
    again = GeocodeResult.from_record(json.loads(json.dumps(result.as_record())))
    assert again == result
    assert again.raw == result.raw
    with pytest.raises(ValueError, match="precision"):
        GeocodeResult.from_record({"lat": 1, "lon": 2, "precision": "exact"})


# --------------------------------------------------------------------------- lookups


Handler = Callable[[httpx.Request], httpx.Response]


@attrs.define
class Server:
    """A scripted provider: answers in order (the last one repeats), requests recorded."""

    answers: list[httpx.Response]
    requests: list[httpx.Request] = attrs.field(factory=list)
    times: list[float] = attrs.field(factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(trio.current_time())
        index = min(len(self.requests), len(self.answers)) - 1
        return self.answers[index]


def respond(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def client_for(adapter: Any, base: str, server: Server) -> Any:
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return geocoder_client(adapter, base, http, retry=RetryPolicy(max_retries=2, base=0.5))


async def test_a_cached_address_makes_no_request(autojump_clock: trio.abc.Clock) -> None:
    """The second lookup of an address, however spelled, is answered by the cache."""
    server = Server([respond(NOMINATIM_HIT)])
    client = client_for(NominatimAdapter("mailto:ops@example.org"), NOMINATIM, server)
    cache = MemoryGeocodeCache()
    first = await geocode("610 W 56th St, New York", client=client, cache=cache)
    again = await geocode("610 West 56th Street,  NEW YORK", client=client, cache=cache)
    assert first == again == GeocodeResult(40.769914, -73.992705, "rooftop")
    assert len(server.requests) == 1
    sent = server.requests[0]
    assert sent.url.path == "/search"
    assert sent.url.params["q"] == "610 W 56th St, New York"
    assert sent.headers["User-Agent"].startswith("scenescout/")
    assert await cache.get("610 west 56th street, new york") == first


async def test_not_found_is_cached_too(autojump_clock: trio.abc.Clock) -> None:
    """A ZERO_RESULTS answer is stored as None and never asked again; errors are not stored."""
    server = Server([respond({"results": [], "status": "ZERO_RESULTS"})])
    client = client_for(GoogleGeocodingAdapter(KEY), GOOGLE, server)
    cache = MemoryGeocodeCache()
    assert await geocode("1 Nowhere Ln", client=client, cache=cache) is None
    assert await geocode("1 Nowhere Lane", client=client, cache=cache) is None
    assert len(server.requests) == 1
    assert server.requests[0].url.params["key"] == KEY
    assert cache.entries == {"1 nowhere lane": None}

    denied = Server([respond({"results": [], "status": "REQUEST_DENIED"})])
    with pytest.raises(SourceAuthError):
        await geocode(
            "2 Elm St", client=client_for(GoogleGeocodingAdapter(KEY), GOOGLE, denied), cache=cache
        )
    assert await cache.get("2 elm street") is MISSING


async def test_blank_address_is_none_without_a_request(autojump_clock: trio.abc.Clock) -> None:
    """An address that normalises to nothing is not looked up."""
    server = Server([respond(NOMINATIM_HIT)])
    client = client_for(NominatimAdapter(), NOMINATIM, server)
    assert await geocode(" , . ", client=client, cache=MemoryGeocodeCache()) is None
    assert server.requests == []


async def test_google_unknown_error_is_tried_again(autojump_clock: trio.abc.Clock) -> None:
    """UNKNOWN_ERROR (HTTP 200) is retried by geocode after 1 s, then 2 s; then it is raised."""
    flaky = Server([respond({"results": [], "status": "UNKNOWN_ERROR"}), respond(GOOGLE_OK)])
    client = client_for(GoogleGeocodingAdapter(KEY), GOOGLE, flaky)
    start = trio.current_time()
    result = await geocode("610 W 56th St", client=client, cache=MemoryGeocodeCache())
    assert result is not None
    assert [t - start for t in flaky.times] == [0.0, 1.0]

    broken = Server([respond({"results": [], "status": "UNKNOWN_ERROR"})])
    client = client_for(GoogleGeocodingAdapter(KEY), GOOGLE, broken)
    with pytest.raises(UpstreamError, match="UNKNOWN_ERROR"):
        await geocode("610 W 56th St", client=client, cache=MemoryGeocodeCache())
    assert len(broken.requests) == 3


async def test_nominatim_429_is_retried_by_the_client(autojump_clock: trio.abc.Clock) -> None:
    """The SourceClient retries a 429 with backoff; the answer after it is used."""
    server = Server([httpx.Response(429, text="Too Many Requests"), respond(NOMINATIM_HIT)])
    client = client_for(NominatimAdapter(), NOMINATIM, server)
    assert await geocode("610 W 56th St", client=client, cache=MemoryGeocodeCache()) is not None
    assert len(server.requests) == 2


async def test_nominatim_stays_at_one_request_per_second(autojump_clock: trio.abc.Clock) -> None:
    """Concurrent lookups of distinct addresses through one client go out 1 s apart."""
    server = Server([respond(NOMINATIM_HIT)])
    service = GeocodeService(
        client_for(NominatimAdapter(), NOMINATIM, server), MemoryGeocodeCache()
    )
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for n in range(4):
            nursery.start_soon(service.geocode, f"{n + 1} Main St")
    assert [round(t - start, 6) for t in server.times] == [0.0, 1.0, 2.0, 3.0]
    assert (service.lookups, service.found, service.hits) == (4, 4, 0)


async def test_concurrent_lookups_of_one_address_share_one_request(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Single-flight: five tasks asking for one address cause one request, four cache hits."""
    server = Server([respond(NOMINATIM_HIT)])
    service = GeocodeService(
        client_for(NominatimAdapter(), NOMINATIM, server), MemoryGeocodeCache()
    )
    results: list[GeocodeResult | None] = []

    async def ask(spelling: str) -> None:
        results.append(await service.geocode(spelling))

    async with trio.open_nursery() as nursery:
        for spelling in ["9 Elm St", "9 Elm Street", "9 ELM ST.", "9 elm st", "9  Elm  St"]:
            nursery.start_soon(ask, spelling)
    assert len(server.requests) == 1
    assert len(results) == 5
    assert len(set(results)) == 1
    assert (service.lookups, service.hits) == (1, 4)


async def test_a_failed_leader_lets_the_next_waiter_try(autojump_clock: trio.abc.Clock) -> None:
    """When the shared lookup fails, a waiting task makes its own request."""
    server = Server(
        [respond(None, 500), respond(None, 500), respond(None, 500), respond(NOMINATIM_HIT)]
    )
    service = GeocodeService(
        client_for(NominatimAdapter(), NOMINATIM, server), MemoryGeocodeCache()
    )
    outcomes: list[object] = []

    async def ask() -> None:
        try:
            outcomes.append(await service.geocode("9 Elm St"))
        except UpstreamError as exc:
            outcomes.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(ask)
    assert isinstance(outcomes[0], UpstreamError)
    assert isinstance(outcomes[1], GeocodeResult)
    assert len(server.requests) == 4  # 1 + 2 retries for the leader, then the waiter's one


async def test_answers_are_kept_in_memory_after_the_first_read(
    autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A venue's many events read the shared cache once; the memory holds MEMO_SIZE answers."""
    import scenescout_cli.enrich.geocode as geocode_module

    monkeypatch.setattr(geocode_module, "MEMO_SIZE", 2)

    class CountingCache(MemoryGeocodeCache):
        reads = 0

        async def get(self, normalised: str) -> GeocodeResult | object | None:
            self.reads += 1
            return await super().get(normalised)

    cache = CountingCache()
    hit = GeocodeResult(40.7, -73.9, "rooftop")
    normalise = geocode_module.normalise_address
    cache.entries = {normalise("9 Elm St"): hit, normalise("1 Main St"): None}
    server = Server([respond(NOMINATIM_HIT)])
    service = GeocodeService(client_for(NominatimAdapter(), NOMINATIM, server), cache)
    answers = [await service.geocode("9 Elm St") for _ in range(3)]
    assert answers == [hit, hit, hit]
    assert await service.geocode("1 Main St") is None  # "not found" is remembered too
    assert await service.geocode("1 Main St") is None
    assert cache.reads == 2
    await service.geocode("5 Oak Ave")  # a third address pushes the oldest out
    assert await service.geocode("9 Elm St") == hit
    assert cache.reads == 4
    assert (service.lookups, service.hits) == (1, 6)
    assert not server.requests[1:]
