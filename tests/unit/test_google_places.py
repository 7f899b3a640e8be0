"""Google Places (New): venue planning, search requests, page tokens, errors, Venue records."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import pathlib
from typing import Any

import pytest

from scenescout_cli.errors import (
    RecordRejected,
    SourceAuthError,
    SourceError,
    SourceQuotaError,
    SourceRateLimited,
    UpstreamError,
)
from scenescout_cli.model import Area, City, Query, Venue, Window
from scenescout_cli.pipeline.planner import haversine_km
from scenescout_cli.sources.google_places import (
    FIELD_MASK,
    TEXT_QUERIES,
    VENUE_TYPE_GROUPS,
    GooglePlacesSource,
)

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "google_places"
KEY = "AIzaSyFixtureKey-7QpX2vLm9RtY4wZb8NcD"
SOURCE = GooglePlacesSource(KEY)
FETCHED_AT = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
NYC = Area(40.7306, -73.9866, 25.0)
DECEMBER = Window(
    dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, 5, 0, tzinfo=dt.UTC)
)
NYC_CITY = City("nyc", "New York City", NYC, "America/New_York", "US")
TOKEN = "AeeoHcLxT3kV9qFz2mRbY8sJw1nUoP4cDgHa6KtQe0WvXyZi5LrMfBj7NpSu"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def text(phrase: str = "concert venue", area: Area = NYC) -> Query:
    return Query(source="google_places", area=area, window=DECEMBER, target=f"text:{phrase}")


def nearby(group: str = "music", area: Area = NYC) -> Query:
    return Query(source="google_places", area=area, window=DECEMBER, target=f"nearby:{group}")


def places(name: str) -> dict[str, dict[str, Any]]:
    return {place["id"]: place for place in load(name)["places"]}


def place(place_id: str) -> dict[str, Any]:
    found = {
        **places("page_text_0.json"),
        **places("page_text_1.json"),
        **places("page_nearby.json"),
    }
    return copy.deepcopy(found[place_id])


def nearby_tiles(source: GooglePlacesSource, city: City) -> set[Area]:
    """The distinct circles of a plan's Nearby queries."""
    return {q.area for q in source.plan(city, DECEMBER) if (q.target or "").startswith("nearby:")}


def minimal(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "ChIJtestPlace000000000001",
        "displayName": {"text": "A Venue", "languageCode": "en"},
    }
    record.update(changes)
    return record


# ---------------------------------------------------------------- planning


def test_plan_puts_text_searches_first_then_nearby_tiles() -> None:
    """Text queries cover the city; Nearby queries cover each 15 km tile for each type group."""
    queries = SOURCE.plan(NYC_CITY, DECEMBER)
    texts = queries[: len(TEXT_QUERIES)]
    assert [q.target for q in texts] == [f"text:{p}" for p in TEXT_QUERIES]
    assert all(q.area == NYC and q.window == DECEMBER for q in texts)
    rest = queries[len(TEXT_QUERIES) :]
    assert {q.target for q in rest} == {f"nearby:{g}" for g in VENUE_TYPE_GROUPS}
    tiles = {q.area for q in rest}
    assert len(tiles) == 16  # 25 km → 17.7 km → 12.5 km
    assert len(rest) == 16 * len(VENUE_TYPE_GROUPS)
    assert all(tile.radius_km <= 15.0 for tile in tiles)


def test_tiles_cover_the_city() -> None:
    """Every point of the city circle lies inside some Nearby tile."""
    tiles = nearby_tiles(SOURCE, NYC_CITY)
    for step in range(36):
        bearing = math.radians(step * 10)
        for fraction in (0.0, 0.5, 0.99):
            d = NYC.radius_km * fraction / 111.32
            lat = NYC.lat + d * math.cos(bearing)
            lon = NYC.lon + d * math.sin(bearing) / math.cos(math.radians(NYC.lat))
            assert any(haversine_km(t.lat, t.lon, lat, lon) <= t.radius_km for t in tiles)


@pytest.mark.parametrize(("tile_km", "tiles"), [(50.0, 1), (25.0, 1), (20.0, 4), (15.0, 16)])
def test_tile_size_sets_the_number_of_nearby_tiles(tile_km: float, tiles: int) -> None:
    """The city circle is quartered until tiles fit tile_km."""
    assert len(nearby_tiles(GooglePlacesSource(KEY, tile_km=tile_km), NYC_CITY)) == tiles


def test_big_cities_are_tiled_below_the_api_maximum() -> None:
    """A 120 km area never sends a circle above 50 km, even with the largest tile size."""
    city = City("big", "Big", Area(34.05, -118.24, 120.0), "America/Los_Angeles", "US")
    tiles = nearby_tiles(GooglePlacesSource(KEY, tile_km=50.0), city)
    assert len(tiles) == 64  # 120 → 85 → 60 → 42 km
    assert max(tile.radius_km for tile in tiles) <= 50.0


def test_constructor_checks() -> None:
    """Blank keys and tile sizes outside (0, 50] km are refused."""
    with pytest.raises(ValueError, match="key"):
        GooglePlacesSource(" ")
    for bad in (0.0, -1.0, 50.5):
        with pytest.raises(ValueError, match="tile_km"):
            GooglePlacesSource(KEY, tile_km=bad)


# ---------------------------------------------------------------- requests


def test_text_search_request() -> None:
    """Text Search posts the phrase, 20 per page and the city's bounding rectangle."""
    req = SOURCE.request(text("comedy club"), None)
    assert (req.method, req.path, req.params) == ("POST", "/places:searchText", {})
    assert req.headers == {
        "X-Goog-Api-Key": KEY,
        "X-Goog-FieldMask": FIELD_MASK + ",nextPageToken",
    }
    assert req.json == {
        "textQuery": "comedy club",
        "pageSize": 20,
        "locationRestriction": {
            "rectangle": {
                "low": {"latitude": 40.506022, "longitude": -74.283966},
                "high": {"latitude": 40.955178, "longitude": -73.689234},
            }
        },
    }


def test_field_mask_names_only_the_fields_normalise_reads() -> None:
    """The mask lists the place fields used, prefixed with places., and no wildcard."""
    assert FIELD_MASK.split(",") == [
        "places.id",
        "places.displayName",
        "places.formattedAddress",
        "places.location",
        "places.types",
        "places.rating",
        "places.userRatingCount",
        "places.websiteUri",
        "places.postalAddress",
        "places.timeZone",
        "places.businessStatus",
    ]


def test_next_text_page_repeats_the_body_with_the_page_token() -> None:
    """The next page sends the identical body plus pageToken."""
    first = SOURCE.request(text(), None)
    second = SOURCE.request(text(), f"1:{TOKEN}")
    assert second.json == {**first.json, "pageToken": TOKEN}
    assert second.headers == first.headers


def test_nearby_search_request() -> None:
    """Nearby posts the group's types, 20 results and the tile circle; no page token in the mask."""
    area = Area(40.7608, -73.9845, 12.5250125)
    req = SOURCE.request(nearby("stage", area), None)
    assert (req.method, req.path) == ("POST", "/places:searchNearby")
    assert req.headers == {"X-Goog-Api-Key": KEY, "X-Goog-FieldMask": FIELD_MASK}
    assert "nextPageToken" not in req.headers["X-Goog-FieldMask"]
    assert req.json == {
        "includedTypes": ["performing_arts_theater", "comedy_club", "auditorium"],
        "maxResultCount": 20,
        "locationRestriction": {
            "circle": {
                "center": {"latitude": 40.7608, "longitude": -73.9845},
                "radius": 12526.0,
            }
        },
    }


def test_nearby_radius_is_capped_at_fifty_km() -> None:
    """A circle above the API's 50 km limit is sent as 50 000 m."""
    req = SOURCE.request(nearby(area=Area(40.73, -73.99, 80.0)), None)
    assert req.json["locationRestriction"]["circle"]["radius"] == 50000.0


def test_key_is_only_in_its_header() -> None:
    """The key travels in X-Goog-Api-Key only: not in the URL, body or any repr."""
    for req in (SOURCE.request(text(), f"2:{TOKEN}"), SOURCE.request(nearby(), None)):
        assert req.params == {}
        assert KEY not in req.path
        assert KEY not in json.dumps(req.json)
        assert KEY not in repr(req)
        assert [k for k, v in req.headers.items() if v == KEY] == ["X-Goog-Api-Key"]
    assert KEY not in repr(SOURCE)


@pytest.mark.parametrize(
    ("query", "cursor"),
    [
        (nearby(), f"1:{TOKEN}"),
        (text(), "0:abc"),
        (text(), TOKEN),
        (text(), 1),
        (Query("google_places", NYC, DECEMBER, target=None), None),
        (Query("google_places", NYC, DECEMBER, target="nearby:bars"), None),
        (Query("google_places", NYC, DECEMBER, target="text: "), None),
    ],
)
def test_foreign_targets_and_cursors_are_refused(query: Query, cursor: Any) -> None:
    """Unknown targets, malformed cursors and paging a Nearby query are programming errors."""
    with pytest.raises(ValueError, match=r"."):
        SOURCE.request(query, cursor)


def test_rectangle_across_the_antimeridian_and_near_a_pole() -> None:
    """Across 180° low.longitude > high.longitude; near a pole longitude is unrestricted."""
    fiji = SOURCE.request(text(area=Area(-16.5, 179.9, 20.0)), None).json
    box = fiji["locationRestriction"]["rectangle"]
    assert box["low"]["longitude"] > box["high"]["longitude"]
    assert box["low"]["longitude"] == pytest.approx(179.712446)
    assert box["high"]["longitude"] == pytest.approx(-179.912446)
    polar = SOURCE.request(text(area=Area(89.9, 10.0, 30.0)), None).json
    box = polar["locationRestriction"]["rectangle"]
    assert (box["low"]["longitude"], box["high"]["longitude"]) == (-180.0, 180.0)
    assert box["high"]["latitude"] == 90.0


# ---------------------------------------------------------------- pages


def test_first_text_page() -> None:
    """A Text Search page yields its places and a cursor to page 1 with the token."""
    page = SOURCE.parse_page(text(), None, 200, load("page_text_0.json"))
    assert len(page.records) == 5
    assert page.next_cursor == f"1:{TOKEN}"
    assert page.total is None


def test_text_paging_stops_after_the_third_page() -> None:
    """Tokens are followed from page 0 to page 2, never to a fourth page."""
    body = load("page_text_0.json")
    cursor: str | None = None
    fetched = []
    while True:
        fetched.append(0 if cursor is None else int(cursor.split(":")[0]))
        cursor = SOURCE.parse_page(text(), cursor, 200, body).next_cursor
        if cursor is None:
            break
    assert fetched == [0, 1, 2]


@pytest.mark.parametrize(
    "body",
    [
        load("page_text_1.json"),
        {**load("page_text_1.json"), "nextPageToken": ""},
        {"nextPageToken": TOKEN},
        {},
    ],
)
def test_text_paging_ends_without_token_or_places(body: dict[str, Any]) -> None:
    """No token, an empty token, or a page without places ends paging."""
    assert SOURCE.parse_page(text(), f"1:{TOKEN}", 200, body).next_cursor is None


def test_nearby_pages_never_continue() -> None:
    """Nearby Search has no pages: a stray token is ignored."""
    body = {**load("page_nearby.json"), "nextPageToken": TOKEN}
    page = SOURCE.parse_page(nearby(), None, 200, body)
    assert (len(page.records), page.next_cursor) == (5, None)


def test_empty_search_is_an_empty_object() -> None:
    """{} (proto3 omits the empty list) is a page with no places."""
    page = SOURCE.parse_page(nearby(), None, 200, load("page_empty.json"))
    assert (page.records, page.next_cursor, page.total) == ([], None, None)


@pytest.mark.parametrize(
    "bad", [None, [], "<html>", {"places": {}}, {"places": ["x"]}, {"places": None}]
)
def test_unexpected_success_bodies(bad: Any) -> None:
    """A 200 whose body is not a places object is an UpstreamError."""
    with pytest.raises(UpstreamError):
        SOURCE.parse_page(text(), None, 200, bad)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (403, load("error_permission_denied.json"), SourceAuthError),
        (400, load("error_api_key_invalid.json"), SourceAuthError),
        (401, load("error_unauthenticated.json"), SourceAuthError),
        (403, None, SourceAuthError),
        (401, "<html>Unauthorized</html>", SourceAuthError),
        (429, load("error_rate_limited.json"), SourceRateLimited),
        (429, None, SourceRateLimited),
        (429, load("error_quota_daily.json"), SourceQuotaError),
        (400, load("error_invalid_argument.json"), UpstreamError),
        (400, load("error_field_mask.json"), UpstreamError),
        (
            404,
            {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}},
            UpstreamError,
        ),
        (500, {"error": {"code": 500, "message": "Internal", "status": "INTERNAL"}}, UpstreamError),
        (503, None, UpstreamError),
        (200, {"error": {"code": 500, "status": "INTERNAL"}}, UpstreamError),
    ],
)
def test_error_mapping(status: int, body: Any, kind: type[SourceError]) -> None:
    """Google's error envelope maps by status, code and ErrorInfo reason, in one line."""
    with pytest.raises(SourceError) as caught:
        SOURCE.parse_page(text(), None, status, body)
    assert type(caught.value) is kind
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("google_places: ")


def test_upstream_errors_carry_status_and_code() -> None:
    """An INVALID_ARGUMENT keeps its HTTP status and Google status as code."""
    with pytest.raises(UpstreamError) as caught:
        SOURCE.parse_page(text(), None, 400, load("error_field_mask.json"))
    assert (caught.value.status, caught.value.code) == (400, "INVALID_ARGUMENT")
    assert "FieldMask is a required parameter" in str(caught.value)


@pytest.mark.parametrize("status", [400, 403, 429, 500])
def test_key_never_appears_in_error_messages(status: int) -> None:
    """Provider text that quotes the key, in the clear or as key=..., is scrubbed."""
    body = {
        "error": {
            "code": status,
            "message": f"Key {KEY} refused for https://x.test/v1?key={KEY}x&a=1\nsee console",
            "status": "PERMISSION_DENIED" if status == 403 else "INVALID_ARGUMENT",
        }
    }
    with pytest.raises(SourceError) as caught:
        SOURCE.parse_page(text(), None, status, body)
    message = str(caught.value)
    assert KEY not in message
    assert "\n" not in message
    assert "[redacted]" in message


# ---------------------------------------------------------------- normalisation


def test_full_place_becomes_a_venue() -> None:
    """Every field of a complete place lands in the Venue."""
    record = place("ChIJm4tqPfhYwokR0sVhHdZ5t8o")
    venue = SOURCE.normalise(record, FETCHED_AT)
    assert venue == Venue(
        source="google_places",
        source_id="ChIJm4tqPfhYwokR0sVhHdZ5t8o",
        name="Carnegie Hall",
        lat=40.7651258,
        lon=-73.9799625,
        address="881 7th Ave, New York, NY 10019, USA",
        locality="New York",
        postal_code="10019",
        country="US",
        timezone="America/New_York",
        types=(
            "concert_hall",
            "performing_arts_theater",
            "event_venue",
            "point_of_interest",
            "establishment",
        ),
        website="https://www.carnegiehall.org/",
        rating=4.8,
        rating_count=14213,
        fetched_at=FETCHED_AT,
    )
    assert venue.raw is record


def test_omitted_fields_are_none() -> None:
    """A place without rating, count or website (omitted, not null) has None for them."""
    venue = SOURCE.normalise(place("ChIJr3jG2JlZwokRfKhV9sWcB0E"), FETCHED_AT)
    assert venue.name == "Webster Hall"
    assert (venue.rating, venue.rating_count, venue.website) == (None, None, None)


def test_all_fixture_places_normalise() -> None:
    """Every place on the fixture pages becomes a Venue; temporarily closed ones are kept."""
    for name in ("page_text_0.json", "page_text_1.json", "page_nearby.json"):
        for record in load(name)["places"]:
            venue = SOURCE.normalise(record, FETCHED_AT)
            assert venue.source_id == record["id"]
            assert venue.timezone == "America/New_York"
            assert venue.lat is not None
    elsewhere = SOURCE.normalise(place("ChIJw0zK3fxbwokRbR5pQeT7Jv8"), FETCHED_AT)
    assert elsewhere.locality == "Brooklyn"


def test_malformed_fixture_records() -> None:
    """Permanently closed, nameless and id-less places are rejected with their reasons."""
    reasons = []
    for record in load("record_malformed.json"):
        with pytest.raises(RecordRejected) as caught:
            SOURCE.normalise(record, FETCHED_AT)
        reasons.append(caught.value.reason)
    assert reasons == ["closed", "missing_name", "missing_id"]


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"location": {"latitude": 0, "longitude": 0}}, "lat", None),
        ({"location": {"latitude": "40.7", "longitude": "-73.9"}}, "lat", None),
        ({"location": {"latitude": 91.0, "longitude": 10.0}}, "lon", None),
        ({"rating": 0.0}, "rating", None),
        ({"rating": 5.5}, "rating", None),
        ({"rating": 3}, "rating", 3.0),
        ({"userRatingCount": "1234"}, "rating_count", 1234),
        ({"userRatingCount": -1}, "rating_count", None),
        ({"timeZone": {"id": "Not/A_Zone"}}, "timezone", None),
        ({"websiteUri": "javascript:alert(1)"}, "website", None),
        ({"postalAddress": {"regionCode": "gb"}}, "country", "GB"),
        ({"postalAddress": {"regionCode": "GBR"}}, "country", None),
        ({"types": ["bar", "bar", 7, "", "night_club"]}, "types", ("bar", "night_club")),
        ({"businessStatus": "FUTURE_OPENING"}, "name", "A Venue"),
    ],
)
def test_field_checks(changes: dict[str, Any], field: str, expected: Any) -> None:
    """Placeholder coordinates, out-of-range ratings, unknown zones and odd values become None."""
    venue = SOURCE.normalise(minimal(**changes), FETCHED_AT)
    assert getattr(venue, field) == expected


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (minimal(displayName={"text": "  "}), "missing_name"),
        (minimal(displayName="Carnegie Hall"), "missing_name"),
        (minimal(id=""), "missing_id"),
        (minimal(businessStatus="CLOSED_PERMANENTLY"), "closed"),
    ],
)
def test_rejections(record: dict[str, Any], reason: str) -> None:
    """Blank names, blank ids and closed places are rejected."""
    with pytest.raises(RecordRejected) as caught:
        SOURCE.normalise(record, FETCHED_AT)
    assert caught.value.reason == reason
