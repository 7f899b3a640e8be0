"""The Ticketmaster emulation's pure parts: geohash, parameter rules, links, filters, orders."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from scenescout_cli.cities import city_from_slug
from scenescout_cli.sandbox.data import World, build_world
from scenescout_cli.sandbox.ticketmaster import (
    _BadRequest,
    _Index,
    _links,
    _parse,
    decode_geohash,
)

ANCHOR = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(city_from_slug("nyc"), anchor=ANCHOR)


@pytest.fixture(scope="module")
def index(world: World) -> _Index:
    return _Index(world, "http://127.0.0.1:1")


def test_geohash_decodes_to_the_cell_centre() -> None:
    """The classic example decodes to its documented point; junk is refused."""
    lat, lon = decode_geohash("u4pruydqqvj")
    assert lat == pytest.approx(57.64911, abs=1e-4)
    assert lon == pytest.approx(10.40744, abs=1e-4)
    lat, lon = decode_geohash("dr5rsqu")
    assert lat == pytest.approx(40.7306, abs=0.01)
    assert lon == pytest.approx(-73.9866, abs=0.01)
    for bad in ("", "dr5ra", "x" * 13):
        with pytest.raises(ValueError, match="geohash"):
            decode_geohash(bad)


def _code(items: list[tuple[str, str]]) -> str | None:
    try:
        _parse(items)
    except _BadRequest as bad:
        return bad.code
    return None


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([("startDateTime", "2026-12-01T00:00:00Z")], None),
        ([("startDateTime", "2026-12-01T00:00:00.000Z")], "DIS1015"),
        ([("endDateTime", "2026-12-01T00:00:00")], "DIS1015"),
        ([("startDateTime", "2026-13-01T00:00:00Z")], "DIS1015"),
        ([("size", "200")], None),
        ([("size", "201")], "DIS1036"),
        ([("size", "200"), ("page", "5")], None),  # offset 1,000 is served (observed)
        ([("size", "200"), ("page", "6")], "DIS1035"),
        ([("size", "20"), ("page", "50")], None),
        ([("size", "20"), ("page", "51")], "DIS1035"),
        ([("size", "20"), ("page", "499")], "DIS1024"),
        ([("size", "x")], "DIS1001"),
        ([("geoPoint", "dr5ra")], "DIS1001"),
        ([("geoPoint", "dr5rs"), ("unit", "furlongs")], "DIS1001"),
        ([("includeTBA", "maybe")], "DIS1001"),
    ],
)
def test_ticketmaster_parameter_rules(items: list[tuple[str, str]], code: str | None) -> None:
    """Dates, size and paging depth are validated as the real API does."""
    assert _code(items) == code


def test_tba_defaults_follow_the_docs() -> None:
    """TBA/TBD default to yes without a date parameter and to no with one."""
    query, page, size = _parse([])
    assert (query.tba, query.tbd, page, size) == ("yes", "yes", 0, 20)
    query, _, _ = _parse([("startDateTime", "2026-12-01T00:00:00Z")])
    assert (query.tba, query.tbd) == ("no", "no")


def test_links_are_relative_templated_and_keyless() -> None:
    """Links keep the filters, drop the key, and offer next/prev/first/last."""
    items = [("apikey", "secret"), ("geoPoint", "dr5rs"), ("page", "1"), ("size", "20")]
    links = _links(items, 1, 20, 3)
    assert links["self"]["href"] == "/discovery/v2/events.json?geoPoint=dr5rs&page=1&size=20{&sort}"
    assert links["next"]["href"].endswith("page=2&size=20{&sort}")
    assert links["prev"]["href"].endswith("page=0&size=20{&sort}")
    assert links["last"]["href"].endswith("page=2&size=20{&sort}")
    assert "secret" not in repr(links)
    assert "next" not in _links(items, 2, 20, 3)


def _events(index: _Index, items: list[tuple[str, str]]) -> list[dict]:
    query, _, _ = _parse(items)
    picked, _ = index.match(query)
    return [json.loads(index.bodies[i] + b"}") for i in picked]


def test_date_window_is_inclusive_on_the_start(index: _Index) -> None:
    """startDateTime/endDateTime select events starting inside, both ends included."""
    first = _events(index, [("sort", "date,asc")])[0]["dates"]["start"]["dateTime"]
    hits = _events(index, [("startDateTime", first), ("endDateTime", first)])
    assert hits
    assert all(e["dates"]["start"].get("dateTime", first) == first for e in hits)


def test_orders_are_total_and_stable(index: _Index) -> None:
    """id,asc and date,asc order strictly; the default relevance order is deterministic."""
    by_id = [e["id"] for e in _events(index, [("sort", "id,asc")])]
    assert by_id == sorted(by_id)
    dated = [
        e["dates"]["start"]["dateTime"]
        for e in _events(index, [("sort", "date,asc"), ("startDateTime", "2026-11-28T00:00:00Z")])
        if "dateTime" in e["dates"]["start"]
    ]
    assert dated == sorted(dated)
    first = [e["id"] for e in _events(index, [])]
    index._cache.clear()
    assert [e["id"] for e in _events(index, [])] == first
    assert first != by_id


def test_filters_narrow_the_results(index: _Index) -> None:
    """keyword, classificationName (with negation), includeFamily and countryCode filter."""
    everything = len(_events(index, []))
    knicks = _events(index, [("keyword", "knicks")])
    assert knicks
    assert all("Knicks" in e["name"] for e in knicks)
    sports = _events(index, [("classificationName", "sports")])
    assert sports
    assert all(e["classifications"][0]["segment"]["name"] == "Sports" for e in sports)
    not_sports = _events(index, [("classificationName", "-sports")])
    assert len(sports) + len(not_sports) == everything
    family = _events(index, [("includeFamily", "only")])
    assert family
    assert all(e["classifications"][0]["family"] for e in family)
    assert len(_events(index, [("includeFamily", "no")])) == everything - len(family)
    assert len(_events(index, [("countryCode", "US")])) == everything
    assert _events(index, [("countryCode", "GB")]) == []


def test_geo_radius_in_miles_and_km(index: _Index) -> None:
    """A small radius around Carnegie Hall keeps only nearby venues, in either unit."""
    items = [("geoPoint", "dr5rut1"), ("radius", "1"), ("unit", "km")]
    query, _, _ = _parse(items)
    picked, distances = index.match(query)
    assert picked
    assert distances is not None
    assert all(distances[i] <= 1 for i in picked)
    miles, _ = index.match(_parse([("geoPoint", "dr5rut1"), ("radius", "0.6214")])[0])
    assert set(miles) == set(picked)


def test_a_large_world_without_rate_limits_gets_a_quota_to_match(world: World) -> None:
    """5,000 calls cannot page through a million events: the benchmark sandbox's
    Ticketmaster quota grows with the world; the documented one stays otherwise."""
    from scenescout_cli.sandbox.server import tm_quota
    from scenescout_cli.sandbox.ticketmaster import API_KEY, DAILY_QUOTA, TicketmasterApi

    assert tm_quota(2_500) == DAILY_QUOTA == 5_000
    assert tm_quota(1_000_000) == 20_000
    api = TicketmasterApi(world, rate_limit=False, daily_quota=2, wall=lambda: 0.0)
    assert api.quota.take(API_KEY) is not None
    assert api.quota.take(API_KEY) is not None
    assert api.quota.take(API_KEY) is None  # the third call of the day is refused


def test_event_ids_keep_enough_random_characters_to_stay_unique() -> None:
    """Every id has 8+ random characters after its prefix (a 1M world has no repeats);
    lengths stay within Ticketmaster's 13-21."""
    from scenescout_cli.sandbox.ticketmaster import _EVENT_ID_PREFIXES, event_id

    world = build_world(city_from_slug("nyc"), anchor=ANCHOR, events=30_000)
    ids = [event_id(e) for e in world.events]
    assert len(set(ids)) == len(ids)
    for ident in ids:
        prefix = next(
            p for p in sorted(_EVENT_ID_PREFIXES, key=len, reverse=True) if ident.startswith(p)
        )
        assert len(ident) - len(prefix) >= 8
        assert 13 <= len(ident) <= 21
