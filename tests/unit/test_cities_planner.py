"""City presets, ``--near`` areas, the crawl window and the planner's query splitting."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from zoneinfo import ZoneInfo

import attrs
import pytest

from scenescout_cli.cities import city_from_slug, city_near, presets
from scenescout_cli.errors import ConfigError
from scenescout_cli.model import Area, Query, Window
from scenescout_cli.pipeline.planner import (
    MIN_RADIUS_KM,
    MIN_WINDOW,
    SplitMemory,
    can_split,
    crawl_window,
    quarter_areas,
    split_query,
)

SLUGS = [
    "nyc",
    "la",
    "chicago",
    "sf",
    "seattle",
    "austin",
    "boston",
    "miami",
    "london",
    "berlin",
    "paris",
    "toronto",
]
EARTH_RADIUS_KM = 6371.0088
T0 = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
NYC = Area(40.7306, -73.9866, 25.0)
HOUR = dt.timedelta(hours=1)
SECOND = dt.timedelta(seconds=1)


def query(area: Area = NYC, length: dt.timedelta = dt.timedelta(days=30)) -> Query:
    return Query("ticketmaster", area, Window(T0, T0 + length))


# ---------------------------------------------------------------- geometry helpers


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def destination(lat: float, lon: float, distance_km: float, bearing: float) -> tuple[float, float]:
    """The point ``distance_km`` from (lat, lon) along ``bearing`` (radians from north)."""
    p1, l1, d = math.radians(lat), math.radians(lon), distance_km / EARTH_RADIUS_KM
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), math.degrees(l2)


def sample_points(area: Area, steps: int = 24) -> list[tuple[float, float]]:
    """A square grid (in km) over the circle, clipped to it, plus 72 points on its edge."""
    offsets = []
    for i in range(-steps, steps + 1):
        for j in range(-steps, steps + 1):
            north, east = area.radius_km * i / steps, area.radius_km * j / steps
            if math.hypot(north, east) <= area.radius_km:
                offsets.append((math.hypot(north, east), math.atan2(east, north)))
    offsets += [(area.radius_km, math.radians(b)) for b in range(0, 360, 5)]
    return [destination(area.lat, area.lon, d, bearing) for d, bearing in offsets]


def worst_coverage(area: Area) -> float:
    """Over the sample points, the largest (distance to nearest quarter / quarter radius)."""
    quarters = quarter_areas(area)
    return max(
        min(haversine_km(q.lat, q.lon, lat, lon) / q.radius_km for q in quarters)
        for lat, lon in sample_points(area)
    )


# The planner lays the quarters out on a flat-earth approximation and they touch the
# parent's edge at four points with no margin, so the geodesic check allows a sliver
# (0.5 % of the quarter radius: ~90 m for a 25 km city).
COVERAGE_TOLERANCE = 1.005


# ---------------------------------------------------------------- cities


def test_presets_are_the_twelve_cities() -> None:
    """``presets()`` lists the twelve documented cities in a stable order."""
    assert [c.slug for c in presets()] == SLUGS


@pytest.mark.parametrize("slug", SLUGS)
def test_preset_is_valid(slug: str) -> None:
    """Every preset has a real zone, a point on Earth, a positive radius and a country."""
    city = city_from_slug(slug)
    assert city.slug == slug
    ZoneInfo(city.timezone)
    assert -90 <= city.area.lat <= 90
    assert -180 <= city.area.lon <= 180
    assert 0 < city.area.radius_km <= 50
    assert len(city.country) == 2
    assert city.country.isupper()
    assert city.name


def test_slug_is_case_insensitive() -> None:
    """``NYC`` and ``nyc`` name the same preset."""
    assert city_from_slug("NYC") == city_from_slug("nyc")
    assert city_from_slug("NYC").slug == "nyc"


def test_unknown_slug_lists_known_slugs() -> None:
    """An unknown city is a one-line ConfigError that names it and every known slug."""
    with pytest.raises(ConfigError) as info:
        city_from_slug("atlantis")
    message = str(info.value)
    assert "'atlantis'" in message
    assert message.endswith("known cities: " + ", ".join(SLUGS))
    assert "\n" not in message


def test_city_near() -> None:
    """``--near LAT,LON`` makes a UTC city whose slug rounds the point to 3 decimals."""
    city = city_near(" 40.73061 , -73.98659 ", 5.0)
    assert city.area == Area(40.73061, -73.98659, 5.0)
    assert city.slug == city.name == "near-40.731,-73.987"
    assert (city.timezone, city.country) == ("UTC", "")


@pytest.mark.parametrize(
    ("near", "radius", "message"),
    [
        ("40.73", 5.0, "--near must be LAT,LON"),
        ("40.73;-73.99", 5.0, "--near must be LAT,LON"),
        ("1,2,3", 5.0, "--near must be LAT,LON"),
        ("north,west", 5.0, "--near must be LAT,LON"),
        ("", 5.0, "--near must be LAT,LON"),
        ("90.1,0", 5.0, "is not a point on Earth"),
        ("-91,0", 5.0, "is not a point on Earth"),
        ("0,180.5", 5.0, "is not a point on Earth"),
        ("nan,0", 5.0, "is not a point on Earth"),
        ("0,inf", 5.0, "is not a point on Earth"),
        ("0,0", 0.0, "--radius must be between 0 and 500 km, got 0"),
        ("0,0", -3.0, "--radius must be between 0 and 500 km, got -3"),
        ("0,0", 500.5, "--radius must be between 0 and 500 km, got 500.5"),
        ("0,0", math.nan, "--radius must be between 0 and 500 km"),
    ],
)
def test_city_near_errors(near: str, radius: float, message: str) -> None:
    """Bad ``--near``/``--radius`` values are one-line ConfigErrors naming the flag."""
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        city_near(near, radius)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("near", "radius"), [("90,180", 500.0), ("-90,-180", 0.001)])
def test_city_near_accepts_the_extremes(near: str, radius: float) -> None:
    """The poles, the antimeridian and the 500 km radius are accepted."""
    assert city_near(near, radius).area.radius_km == radius


# ---------------------------------------------------------------- crawl window


@pytest.mark.parametrize(
    ("now", "days", "start"),
    [
        (
            dt.datetime(2026, 7, 1, 12, 30, 15, 999_999, tzinfo=dt.UTC),
            30,
            dt.datetime(2026, 7, 1, 12, 30, 15, tzinfo=dt.UTC),
        ),
        # 01:59:59 EST, just before the spring-forward gap; the window is UTC and 7 * 24 h.
        (
            dt.datetime(2026, 3, 8, 1, 59, 59, 500_000, tzinfo=ZoneInfo("America/New_York")),
            7,
            dt.datetime(2026, 3, 8, 6, 59, 59, tzinfo=dt.UTC),
        ),
        (
            dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=14))),
            1,
            dt.datetime(2025, 12, 31, 10, 0, tzinfo=dt.UTC),
        ),
    ],
)
def test_crawl_window(now: dt.datetime, days: int, start: dt.datetime) -> None:
    """The window starts at ``now`` in UTC truncated to the second and lasts ``days`` days."""
    window = crawl_window(now, days)
    assert window.start == start
    assert window.end - window.start == dt.timedelta(days=days)
    for instant in (window.start, window.end):
        assert instant.tzinfo is dt.UTC
        assert instant.microsecond == 0


# ---------------------------------------------------------------- splitting in time


@pytest.mark.parametrize(
    ("length", "middle"),
    [
        (dt.timedelta(days=30), T0 + dt.timedelta(days=15)),
        (dt.timedelta(hours=2), T0 + HOUR),
        (HOUR + SECOND, T0 + dt.timedelta(minutes=30)),  # 1800.5 s → whole seconds
        (dt.timedelta(hours=3, seconds=3), T0 + dt.timedelta(hours=1, minutes=30, seconds=1)),
    ],
)
def test_split_halves_window(length: dt.timedelta, middle: dt.datetime) -> None:
    """A window longer than an hour splits into two contiguous halves at a whole second."""
    parent = query(length=length)
    first, second = split_query(parent)
    assert first.window == Window(T0, middle)
    assert second.window == Window(middle, T0 + length)
    assert first.area == second.area == parent.area
    assert first.source == second.source == parent.source
    halves = (first.window.end - first.window.start, second.window.end - second.window.start)
    assert abs(halves[0] - halves[1]) <= SECOND


# ---------------------------------------------------------------- splitting in space


@pytest.mark.parametrize("length", [MIN_WINDOW, MIN_WINDOW / 2, SECOND])
def test_short_window_splits_into_quarters(length: dt.timedelta) -> None:
    """At or below MIN_WINDOW the window is kept and the circle becomes four r/√2 circles."""
    parent = query(length=length)
    children = split_query(parent)
    assert [c.area for c in children] == quarter_areas(parent.area)
    assert all(c.window == parent.window for c in children)
    assert all(c.source == parent.source for c in children)
    assert all(
        c.area.radius_km == pytest.approx(NYC.radius_km / math.sqrt(2), rel=2e-3) for c in children
    )


def test_quarter_centres_sit_in_the_four_quadrants() -> None:
    """The quarter centres lie half a radius north/south and east/west of the centre."""
    quarters = quarter_areas(NYC)
    signs = {
        (math.copysign(1, q.lat - NYC.lat), math.copysign(1, q.lon - NYC.lon)) for q in quarters
    }
    assert signs == {(1, 1), (1, -1), (-1, 1), (-1, -1)}
    for q in quarters:
        north = haversine_km(NYC.lat, NYC.lon, q.lat, NYC.lon)
        assert north == pytest.approx(NYC.radius_km / 2, rel=0.005)


@pytest.mark.parametrize(
    "area",
    [
        *(pytest.param(city_from_slug(slug).area, id=slug) for slug in SLUGS),
        pytest.param(Area(0.0, 0.0, 25.0), id="equator"),
        pytest.param(Area(-33.87, 151.21, 40.0), id="sydney"),
        pytest.param(Area(64.15, -21.94, 25.0), id="reykjavik"),
        pytest.param(Area(40.0, -3.7, 100.0), id="100km"),
        pytest.param(Area(51.5, -0.12, 0.3), id="tiny"),
    ],
)
def test_quarters_cover_parent(area: Area) -> None:
    """Every point of the parent circle (grid + edge, geodesic distance) lies in some quarter."""
    assert worst_coverage(area) <= COVERAGE_TOLERANCE


@pytest.mark.parametrize(
    "area",
    [
        pytest.param(Area(60.0, 10.0, 500.0), id="60N-500km"),
        pytest.param(Area(-60.0, 10.0, 500.0), id="60S-500km"),
        pytest.param(Area(70.0, 20.0, 300.0), id="70N-300km"),
    ],
)
def test_quarters_cover_large_parent_at_high_latitude(area: Area) -> None:
    """``--near`` allows 500 km anywhere; the quarters must still cover the whole circle."""
    assert worst_coverage(area) <= COVERAGE_TOLERANCE


@pytest.mark.parametrize(
    "near",
    [pytest.param("-16.8,179.95", id="antimeridian"), pytest.param("89.9,0", id="pole")],
)
def test_quarter_centres_are_points_on_earth(near: str) -> None:
    """Quarter centres of any valid ``--near`` area are valid coordinates."""
    for q in quarter_areas(city_near(near, 25.0).area):
        assert -90 <= q.lat <= 90
        assert -180 <= q.lon <= 180


# ---------------------------------------------------------------- the floor and termination


@pytest.mark.parametrize(
    ("length", "radius", "expected"),
    [
        (MIN_WINDOW, MIN_RADIUS_KM, False),
        (dt.timedelta(minutes=5), 0.1, False),
        (MIN_WINDOW + SECOND, MIN_RADIUS_KM, True),
        (MIN_WINDOW, MIN_RADIUS_KM + 0.01, True),
        (dt.timedelta(days=30), 25.0, True),
    ],
)
def test_can_split(length: dt.timedelta, radius: float, expected: bool) -> None:
    """A query is splittable until its window is ≤ 1 h and its radius ≤ the floor."""
    assert can_split(query(Area(40.0, -74.0, radius), length)) is expected


@pytest.mark.parametrize("branch", [0, 1, 2, 3])
def test_repeated_splitting_of_thirty_days_terminates(branch: int) -> None:
    """Always splitting one child of a 30-day, 25 km query reaches the floor in 24 steps."""
    current = query()
    depth = 0
    while can_split(current):
        children = split_query(current)
        assert len(children) in (2, 4)
        current = children[branch % len(children)]
        depth += 1
        assert depth <= 100, "splitting does not converge"
    # 30 days = 720 h → 13 halvings (≤ 5.3 min); 25 km → 14 divisions by √2 (≤ 0.195 km).
    assert depth == 13 + 14
    assert current.window.end - current.window.start <= MIN_WINDOW
    assert current.area.radius_km <= MIN_RADIUS_KM


def test_full_split_tree_partitions_time_and_reaches_the_floor() -> None:
    """Splitting a 40 min, 0.49 km query to the floor yields leaves that tile the window."""
    parent = query(Area(40.0, -74.0, 0.49), dt.timedelta(minutes=40))
    leaves: list[Query] = []
    pending = [parent]
    while pending:
        q = pending.pop()
        if can_split(q):
            pending.extend(split_query(q))
        else:
            leaves.append(q)
    windows = sorted(
        {leaf.window.start: leaf.window for leaf in leaves}.values(), key=lambda w: w.start
    )
    assert windows[0].start == parent.window.start
    assert windows[-1].end == parent.window.end
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    # 40 min → 4 windows of 10 min; 0.49 km → 0.347 → 0.245 km: two levels of quarters each.
    assert len(windows) == 4
    assert len(leaves) == 4 * 4**2


def test_splitting_keeps_the_query_target() -> None:
    """Parts of a split query list the same organizer, venue or phrase as their parent."""
    parent = Query(
        "eventbrite",
        Area(40.7, -74.0, 10.0),
        Window(T0, T0 + dt.timedelta(minutes=30)),
        target="organizer:123",
    )
    assert {part.target for part in split_query(parent)} == {"organizer:123"}
    longer = attrs.evolve(parent, window=Window(T0, T0 + dt.timedelta(days=2)))
    assert {part.target for part in split_query(longer)} == {"organizer:123"}


@pytest.mark.parametrize(
    "query",
    [
        Query("ticketmaster", Area(40.7128, -74.006, 25.0), Window(T0, T0 + dt.timedelta(days=30))),
        # a quarter circle's radius, a southern and western centre, a target with colons
        Query(
            "eventbrite",
            Area(-33.86785, -151.20732, 3.53553),
            Window(T0 + dt.timedelta(minutes=7, seconds=30), T0 + dt.timedelta(minutes=15)),
            target="venue:12:34",
        ),
    ],
)
def test_a_query_is_read_back_from_its_key(query: Query) -> None:
    assert Query.from_key(query.key) == query


@pytest.mark.parametrize(
    "key", ["", "ticketmaster", "ticketmaster:40.7,-74.0,25km:2026-12-01/2026-12-02"]
)
def test_a_key_that_is_not_a_query_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="not a query key"):
        Query.from_key(key)


NYC = Area(40.7128, -74.006, 25.0)
THIRTY_DAYS = Window(T0, T0 + dt.timedelta(days=30))


def _split_tree(query: Query, depth: int) -> list[Query]:
    """``query`` and its parts to ``depth`` levels: what a crawl splits of a dense city."""
    if depth == 0:
        return []
    return [query] + [q for part in split_query(query) for q in _split_tree(part, depth - 1)]


def test_a_query_that_holds_one_split_before_must_split() -> None:
    """Counts only grow with the query: one that holds a query over the cap, in time
    and in space, is over it too."""
    [west, east, *_] = quarter_areas(NYC)
    five_minutes = dt.timedelta(minutes=5)
    day = dt.timedelta(days=1)
    memory = SplitMemory(
        [
            Query("ticketmaster", NYC, Window(T0, T0 + five_minutes)),
            Query("ticketmaster", west, Window(T0 + day, T0 + day + five_minutes)),
        ]
    )
    assert memory.must_split(Query("ticketmaster", NYC, THIRTY_DAYS))
    assert memory.must_split(Query("ticketmaster", west, THIRTY_DAYS))
    wider = Area(NYC.lat, NYC.lon, 30.0)
    assert memory.must_split(Query("ticketmaster", wider, Window(T0, T0 + five_minutes)))
    # a window that starts after the one, and ends as the other starts
    assert not memory.must_split(
        Query("ticketmaster", NYC, Window(T0 + five_minutes / 5, T0 + day))
    )
    # areas that do not hold them: a quarter of NYC (quarters stick out of their
    # parent, so no quarter holds its parent, nor the parent a quarter), east's
    assert not memory.must_split(Query("ticketmaster", east, THIRTY_DAYS))
    assert not memory.must_split(Query("ticketmaster", west, Window(T0, T0 + five_minutes)))
    # another source; another target
    assert not memory.must_split(Query("eventbrite", NYC, THIRTY_DAYS))
    assert not memory.must_split(Query("ticketmaster", NYC, THIRTY_DAYS, target="venue:1"))


def test_a_later_crawls_queries_hold_an_earlier_crawls_splits() -> None:
    """A crawl an hour later plans a window an hour later. Each of its queries down the
    tree holds a query the earlier crawl split: one of the same level, or, at the
    window's start, one a level deeper. Below the earlier crawl's deepest split the
    queries at the start hold none."""
    earlier = _split_tree(Query("ticketmaster", NYC, THIRTY_DAYS), depth=5)
    memory = SplitMemory.from_keys(query.key for query in earlier)
    assert len(memory) == 1 + 2 + 4 + 8 + 16
    hour = dt.timedelta(hours=1)
    later = Query("ticketmaster", NYC, Window(THIRTY_DAYS.start + hour, THIRTY_DAYS.end + hour))
    tree = _split_tree(later, depth=4)
    assert all(memory.must_split(query) for query in tree)
    first_leaf = split_query(
        min(tree, key=lambda q: (q.window.end - q.window.start, q.window.start))
    )[0]
    assert first_leaf.window.start == later.window.start
    assert not memory.must_split(first_leaf)


def test_split_memory_leaves_out_keys_it_cannot_read() -> None:
    query = Query("ticketmaster", NYC, THIRTY_DAYS)
    memory = SplitMemory.from_keys(["not a key", query.key])
    assert len(memory) == 1
    assert memory.must_split(query)
