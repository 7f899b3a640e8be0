"""De-duplication: title normalisation, the pairwise decision, the index, the merge,
and the evaluation targets on the labelled pairs."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest

from scenescout_cli.enrich.dedup import DedupIndex, merge, normalise_title, same_event
from scenescout_cli.model import Event

from .bench_scripts import bench_script

NY = "America/New_York"
MSG = (40.750504, -73.993439)
ROOT = Path(__file__).parents[2]


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A New York wall-clock time as a UTC instant."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=zoneinfo.ZoneInfo(NY)).astimezone(
        dt.UTC
    )


def event(**changes: Any) -> Event:
    base = Event(
        source="ticketmaster",
        source_id="vvG1IZ9pKx7Qa3",
        title="Harbor Lights",
        starts_at=local(2026, 7, 10, 20, 0),
        timezone=NY,
        venue_name="Madison Square Garden",
        lat=MSG[0],
        lon=MSG[1],
    )
    return attrs.evolve(base, **changes)


def other(**changes: Any) -> Event:
    """The same show as another provider lists it (different id), unless changed."""
    return event(source="eventbrite", source_id="812345678901", **changes)


def eval_module() -> ModuleType:
    """bench/eval_dedup.py."""
    return bench_script("eval_dedup")


# --------------------------------------------------------------------------- titles


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Harbor Lights – Summer Tour 2026", "harbor lights"),
        ("Harbor Lights: The Afterglow World Tour", "harbor lights"),
        ("Harbor Lights - Live", "harbor lights"),
        ("Harbor Lights Live in Concert", "harbor lights"),
        ("Harbor Lights (Rescheduled)", "harbor lights"),
        ("Postponed: Harbor Lights", "harbor lights"),
        ("Harbor Lights [SOLD OUT] (18+)", "harbor lights"),
        ("KCRW Presents: Harbor Lights", "harbor lights"),
        ("Harbor Lights presented by Live Nation", "harbor lights"),
        ("Harbor Lights feat. June Alcott", "harbor lights"),
        ("Harbor Lights w/ special guests", "harbor lights"),
        ("Harbor Lights with Special Guest June Alcott", "harbor lights"),
        ("Beyoncé", "beyonce"),
        ("Søren Falk & Ruby", "soren falk ruby"),
        ("The Black Keys", "black keys"),
        ("Yankees vs. Red Sox", "yankees red sox"),
        ("Night Two", "night 2"),
        ("Live", "live"),
        ("Brooklyn Museum: Highlights Tour", "brooklyn museum highlights tour"),
    ],
)
def test_normalise_title(title: str, expected: str) -> None:
    """Case, accents, punctuation, concert tours, "Live", status notes, promoters and guests
    go; a guided tour's name stays."""
    assert normalise_title(title) == expected


# --------------------------------------------------------------------------- same_event


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"title": "HARBOR LIGHTS – Summer Tour 2026"}, "tour suffix, upper case"),
        ({"venue_name": "MSG", "lat": None, "lon": None}, "acronym, no coordinates"),
        ({"venue_name": None, "lat": 40.7507, "lon": -73.9937}, "coordinates only, ~30 m"),
        ({"starts_at": local(2026, 7, 10, 20, 30)}, "start 30 minutes later"),
        ({"starts_at": local(2026, 7, 10, 0, 0)}, "date only (local midnight)"),
        ({"starts_at": local(2026, 7, 10, 0, 0), "all_day": True}, "all-day flag"),
        ({"timezone": None}, "no zone"),
        ({"status": "cancelled"}, "one provider says cancelled"),
        ({"title": "Harbor Lights at Madison Square Garden"}, "venue in the title"),
        ({"title": "Harbour Lights"}, "spelling"),
    ],
)
def test_variations_of_one_event_match(changes: dict[str, object], why: str) -> None:
    """The same event from two providers matches despite: {why}."""
    assert same_event(event(), other(**changes)), why


def test_same_record_always_matches_itself() -> None:
    """The same (source, source_id) is the same event, even after a reschedule."""
    assert same_event(event(), event(starts_at=local(2026, 9, 1, 20, 0)))


def test_start_tolerance_is_thirty_minutes() -> None:
    """30 minutes apart still match; 31 minutes apart do not."""
    assert same_event(event(), other(starts_at=local(2026, 7, 10, 20, 30)))
    assert not same_event(event(), other(starts_at=local(2026, 7, 10, 20, 31)))


@pytest.mark.parametrize(
    ("a", "b", "why"),
    [
        ({}, {"starts_at": local(2026, 7, 11, 20, 0)}, "the next night"),
        ({}, {"starts_at": local(2026, 7, 17, 20, 0)}, "a week later"),
        (
            {"title": "Harbor Lights (Early Show)", "starts_at": local(2026, 7, 10, 19, 0)},
            {"title": "Harbor Lights (Late Show)", "starts_at": local(2026, 7, 10, 21, 30)},
            "early and late show",
        ),
        ({}, {"starts_at": local(2026, 7, 10, 22, 0)}, "a second show, same title"),
        (
            {"title": "Harbor Lights (Early Show)"},
            {"title": "Harbor Lights (Late Show)"},
            "early/late markers even at one time",
        ),
        ({"title": "Knicks vs Celtics Game 1"}, {"title": "Knicks vs Celtics Game 2"}, "games"),
        ({"title": "Harbor Lights Night 1"}, {"title": "Harbor Lights - Night Two"}, "nights"),
        ({"title": "Harbor Lights 7pm Show"}, {"title": "Harbor Lights 9:30pm Show"}, "clocks"),
        ({}, {"title": "Neon Arcade"}, "another act"),
        (
            {"venue_name": "Elsewhere - Zone One", "lat": 40.7096, "lon": -73.9235},
            {"venue_name": "Elsewhere - Rooftop", "lat": 40.7096, "lon": -73.9235},
            "different rooms",
        ),
        (
            {"venue_name": "Webster Hall - The Studio", "lat": None, "lon": None},
            {"venue_name": "Webster Hall - Grand Ballroom", "lat": None, "lon": None},
            "rooms without coordinates",
        ),
        (
            {},
            {"venue_name": "Brooklyn Steel", "lat": 40.719312, "lon": -73.938815},
            "another venue across the river",
        ),
        (
            {"title": "Trivia Night", "venue_name": "The Ginger Man", "lat": 40.74939},
            {"title": "Trivia Night", "venue_name": "Rattle N Hum", "lat": 40.7499},
            "generic title at the bar next door",
        ),
        ({}, {"starts_at": None, "date_tba": True}, "TBA vs dated"),
        (
            {"title": "Brooklyn Museum: Highlights Tour", "venue_name": "Brooklyn Museum"},
            {"title": "Brooklyn Museum: Sculpture Garden Tour", "venue_name": "Brooklyn Museum"},
            "two guided tours",
        ),
        (
            {"starts_at": local(2026, 7, 10, 0, 0), "all_day": True},
            {"starts_at": local(2026, 7, 11, 20, 0)},
            "all-day Friday vs timed Saturday",
        ),
    ],
)
def test_hard_negatives_do_not_match(a: dict[str, object], b: dict[str, object], why: str) -> None:
    """Different real-world events stay apart: {why}."""
    assert not same_event(event(**a), other(**b)), why


def test_same_event_is_symmetric() -> None:
    """same_event(a, b) == same_event(b, a) for matches and non-matches."""
    pairs = [
        (event(), other(venue_name="MSG", lat=None, lon=None)),
        (event(), other(starts_at=local(2026, 7, 10, 0, 0))),
        (event(), other(starts_at=local(2026, 7, 11, 20, 0))),
    ]
    for a, b in pairs:
        assert same_event(a, b) == same_event(b, a)


# --------------------------------------------------------------------------- index


def test_index_matches_another_providers_record() -> None:
    """A record of an indexed event finds its key; an unrelated one finds none."""
    index = DedupIndex()
    index.add("e1", event())
    assert index.match(other(title="Harbor Lights - Live", venue_name="MSG")) == "e1"
    assert index.match(other(title="Neon Arcade")) is None
    assert len(index) == 1


@pytest.mark.parametrize("indexed_minute", [0, 1, 14, 15, 29, 30, 31, 44, 45, 59])
def test_index_reaches_exactly_the_start_tolerance(indexed_minute: int) -> None:
    """Wherever a start lies in its half-hour slot, the index finds records up to
    TIME_TOLERANCE before and after it, and does not even look at one an hour off."""
    indexed = local(2026, 7, 10, 20, indexed_minute)
    for offset, found in ((-30, True), (30, True), (-31, False), (31, False)):
        index = DedupIndex()
        index.add("e1", event(starts_at=indexed))
        probe = other(starts_at=indexed + dt.timedelta(minutes=offset))
        assert (index.match(probe) == "e1") is found, (indexed_minute, offset)
    for offset in (-60, 60):
        index = DedupIndex()
        index.add("e1", event(starts_at=indexed))
        assert index.match(other(starts_at=indexed + dt.timedelta(minutes=offset))) is None
        assert index.comparisons == 0, (indexed_minute, offset)


def test_index_matches_across_midnight() -> None:
    """23:50 and 00:10 the next day (20 minutes) meet across the day and bucket boundary."""
    index = DedupIndex()
    index.add("late", event(title="Static Bloom", starts_at=local(2026, 7, 10, 23, 50)))
    assert index.match(other(title="Static Bloom", starts_at=local(2026, 7, 11, 0, 10))) == "late"
    index = DedupIndex()
    index.add("early", event(title="Static Bloom", starts_at=local(2026, 7, 11, 0, 10)))
    assert index.match(other(title="Static Bloom", starts_at=local(2026, 7, 10, 23, 50))) == (
        "early"
    )


def test_index_matches_date_only_records_with_timed_ones() -> None:
    """A date-only record meets a timed record of the same local date, both ways."""
    index = DedupIndex()
    index.add("timed", event(starts_at=local(2026, 7, 10, 22, 30)))
    assert index.match(other(starts_at=local(2026, 7, 10, 0, 0), all_day=True)) == "timed"
    index = DedupIndex()
    index.add("day", other(starts_at=local(2026, 7, 10, 0, 0), all_day=True))
    assert index.match(event(starts_at=local(2026, 7, 10, 22, 30))) == "day"


def test_index_matches_by_venue_name_without_coordinates() -> None:
    """Records without coordinates are blocked by venue name (acronyms included)."""
    index = DedupIndex()
    index.add("e1", event(lat=None, lon=None))
    assert index.match(other(venue_name="MSG", lat=None, lon=None)) == "e1"
    assert index.match(other(venue_name="Barclays Center", lat=None, lon=None)) is None


def test_index_keeps_early_and_late_shows_apart() -> None:
    """Two shows of one night stay two keys; each later record finds its own."""
    index = DedupIndex()
    index.add("early", event(starts_at=local(2026, 7, 10, 19, 0)))
    assert index.match(other(starts_at=local(2026, 7, 10, 21, 30))) is None
    index.add("late", other(starts_at=local(2026, 7, 10, 21, 30)))
    yelp = dict(source="yelp", source_id="harbor-lights-msg")
    assert index.match(event(starts_at=local(2026, 7, 10, 19, 10), **yelp)) == "early"
    assert index.match(event(starts_at=local(2026, 7, 10, 21, 20), **yelp)) == "late"


def test_index_finds_a_known_record_whatever_changed() -> None:
    """A re-crawled record matches its own key even if its date moved."""
    index = DedupIndex()
    index.add("e1", event())
    assert index.match(event(starts_at=local(2026, 12, 1, 20, 0), title="New Title")) == "e1"


def test_re_adding_a_record_replaces_its_entry() -> None:
    """Adding the same (source, source_id) again moves it; the old place no longer matches."""
    index = DedupIndex()
    index.add("e1", event())
    index.add("e1", event(starts_at=local(2026, 8, 1, 20, 0)))
    assert len(index) == 1
    assert index.match(other()) is None
    assert index.match(other(starts_at=local(2026, 8, 1, 20, 0))) == "e1"


def test_removing_records_leaves_their_block_partners_and_no_empty_blocks() -> None:
    """Two records share their blocks; removing one keeps the other findable, removing
    both (and re-adding one elsewhere) leaves no block behind: the index of a large
    city stays the size of what it holds."""
    index = DedupIndex()
    index.add("e1", event(source="meetup", source_id="m1"))
    index.add("e2", event(source="yelp", source_id="y1", title="Harbor Lights (Late Show)"))
    index.remove(("meetup", "m1"))
    assert index.match(other(title="Harbor Lights (Late Show)")) == "e2"
    index.add("e2", event(source="yelp", source_id="y1", starts_at=local(2026, 8, 1, 20, 0)))
    index.remove(("yelp", "y1"))
    assert len(index) == 0
    assert index._blocks == {}
    assert index.match(other()) is None


def test_features_share_what_records_have_in_common() -> None:
    """A resident record's features reuse one empty set for absent markers, one word
    set per venue, and the words, own title and address of a title or address seen
    recently (memory: a large city's index holds ~15,000 records)."""
    from scenescout_cli.enrich.dedup import _features

    a = _features(event(title="Harbor Lights"))
    b = _features(other(title="Blue Room Sessions"))
    assert a.shows is b.shows is a.parts is b.clocks
    assert a.venue_words is b.venue_words == frozenset({"madison", "square", "garden"})
    assert _features(event(title="Harbor Lights (Late Show)")).shows == {"late"}
    # the same event from another source: its title's words and address are shared too
    c = _features(other(title="HARBOR LIGHTS", address="4 Penn Plaza"))
    d = _features(event(title="Harbor Lights", source_id="tm-2", address="4 Penn Plaza"))
    assert c.title_words is d.title_words == frozenset({"harbor", "lights"})
    assert c.own_title is d.own_title == "harbor lights"
    assert c.address is d.address == "4 penn plaza"


def test_a_date_only_listing_reaches_every_hour_of_a_long_local_day() -> None:
    """On the day clocks fall back, New York's 1 November lasts 25 hours: a show at
    23:30 that night is on the date-only listing's date, and the index finds the pair
    whichever record came first (the listing was filed under 24 hours from midnight)."""
    listing = event(starts_at=local(2026, 11, 1), all_day=True)
    late = other(starts_at=local(2026, 11, 1, 23, 30))
    assert late.starts_at - listing.starts_at == dt.timedelta(hours=24, minutes=30)
    assert same_event(listing, late)
    for first, second in ((listing, late), (late, listing)):
        index = DedupIndex()
        index.add("first", first)
        assert index.match(second) == "first"


def test_a_date_only_listing_stops_at_the_end_of_its_local_day() -> None:
    """New York's 10 July runs 04:00–04:00 UTC: a listing of that date meets a show at
    22:30 (02:30 UTC on the 11th) but not one at 00:30 on the 11th (04:30 UTC, the
    same UTC day), nor a listing of the 11th, whichever record came first."""
    listing = event(starts_at=local(2026, 7, 10), all_day=True)
    late = other(starts_at=local(2026, 7, 10, 22, 30))
    next_day = other(starts_at=local(2026, 7, 11, 0, 30))
    next_listing = other(starts_at=local(2026, 7, 11), all_day=True)
    assert late.starts_at.date() == next_day.starts_at.date()  # one UTC day
    for first, second, expected in (
        (listing, late, "first"),
        (late, listing, "first"),
        (listing, next_day, None),
        (next_day, listing, None),
        (listing, next_listing, None),
        (next_listing, listing, None),
        (listing, other(starts_at=local(2026, 7, 10), all_day=True), "first"),
    ):
        index = DedupIndex()
        index.add("first", first)
        assert index.match(second) == expected, (first.starts_at, second.starts_at)


def test_a_date_only_listing_takes_no_more_index_room_than_two_timed_records() -> None:
    """A date-only record is filed under the (at most two) UTC days of its local day,
    not under each of its hours: in a large city 2% of the records are date-only, and
    filed hourly they were a third of the index."""
    timed, listing = DedupIndex(), DedupIndex()
    timed.add("e1", event())
    listing.add("e1", event(starts_at=local(2026, 7, 10), all_day=True))

    def blocks(index: DedupIndex) -> int:
        return sum(len(places) for places in index._blocks.values())

    assert 0 < blocks(listing) <= 2 * blocks(timed)


def test_ties_go_to_the_smallest_key() -> None:
    """Two keys matching equally well: the smallest key wins, whatever the insert order."""
    for order in (("b", "a"), ("a", "b")):
        index = DedupIndex()
        for n, key in enumerate(order):
            index.add(key, event(source="meetup", source_id=f"m{n}"))
        assert index.match(other()) == "a"


def test_best_score_beats_a_smaller_key() -> None:
    """The closer start wins over the smaller key."""
    index = DedupIndex()
    index.add("a", event(source="meetup", source_id="m1", starts_at=local(2026, 7, 10, 20, 25)))
    index.add("b", event(source="yelp", source_id="y1"))
    assert index.match(other()) == "b"


def test_index_agrees_with_same_event_on_the_labelled_pairs() -> None:
    """Blocking never hides a match: for every pair the index finds what same_event finds."""
    evaluation = eval_module()
    for pair in evaluation.load_pairs():
        index = DedupIndex()
        index.add("a", pair.a)
        expected = "a" if same_event(pair.a, pair.b) else None
        assert index.match(pair.b) == expected, pair.note


def test_place_verdicts_are_remembered_per_pair_of_places() -> None:
    """The index's remembered place verdicts equal the decision itself, for every
    labelled pair and for records that share a place but not a title or a time; an id
    always names one place, and the memo stays bounded while it forgets."""
    from scenescout_cli.enrich.dedup import _features, _place_verdict, _Places

    places = _Places(limit=7)  # forgets often: every pair is decided afresh some time
    named: dict[int, object] = {}
    remembered = 0
    pairs = eval_module().load_pairs()
    for pair in [*pairs, *pairs]:
        a, b = _features(pair.a), _features(pair.b)
        moved = _features(attrs.evolve(pair.b, title="Something Else", starts_at=None))
        assert moved.place == b.place
        row = places.row(places.id_of(a.place))
        for other in (b, moved):
            other_id = places.id_of(other.place)
            assert named.setdefault(other_id, other.place) == other.place  # never reused
            verdict = row.get(other_id, "unknown")
            if verdict == "unknown":
                verdict = places.decide(row, a, other, other_id)
            else:
                remembered += 1
            assert verdict == _place_verdict(a, other), pair.note
        assert len(places._ids) <= 7
        assert places._held <= 7 + 2  # the limit, and what one match adds
    assert remembered >= len(pairs)  # the place of ``moved`` is ``b``'s: remembered


def test_far_apart_places_are_decided_as_the_full_place_test_decides_them() -> None:
    """``_place_verdict`` settles pairs beyond NEAR_M before ``_place``'s other tests
    (only a near-identical name or an acronym agrees that far): the same verdicts as
    ``_place`` itself, for names that are equal, a subset, a respelling, an acronym,
    rooms of one venue, or another venue, near and far."""
    from scenescout_cli.enrich.dedup import (
        NEAR_M,
        _features,
        _metres,
        _place,
        _place_verdict,
    )

    names = [
        "Madison Square Garden",
        "MSG",
        "Madison Square Garden Theater",
        "Bowery Ballroom",
        "The Bowery Ball Room",
        "Bowery Electric",
        "Webster Hall - The Studio",
        "Webster Hall",
        "Brooklyn Steel",
        "Brookyln Steel",
        "Union Pool",
        "Union Hall",
        "",
    ]
    agreed = 0
    for name_a, name_b in itertools.product(names, repeat=2):
        # 0 m, 111 m, 1.3 km, 10 km, 33 km, and b without coordinates
        for north in (0.0, 0.001, 0.012, 0.09, 0.3, None):
            a = _features(event(venue_name=name_a or None, address="1 Main St"))
            b = _features(
                other(
                    venue_name=name_b or None,
                    lat=None if north is None else 40.7505 + north,
                    lon=None if north is None else MSG[1],
                    address="1 Main St",
                )
            )
            distance = (
                None
                if a.lat is None or a.lon is None or b.lat is None or b.lon is None
                else _metres(a.lat, a.lon, b.lat, b.lon)
            )
            expected = (
                None
                if distance is not None and distance > NEAR_M and not (a.venue_keys & b.venue_keys)
                else _place(a, b, distance)
            )
            assert _place_verdict(a, b) == expected, (name_a, name_b, north)
            agreed += expected is not None and distance is not None and distance > NEAR_M
    assert agreed > 10  # far pairs that agree are among them


@pytest.mark.parametrize(
    ("short", "long"),
    [("The Garden", "Garden Bar"), ("The Lounge", "The Mercury Lounge"), ("The Loft", "Loft 21")],
)
def test_a_name_of_common_venue_words_is_not_every_name_that_contains_it(
    short: str, long: str
) -> None:
    """One venue name inside another counts as the same name, unless the shorter is
    only common venue words: two bars 400 m apart, the same open mic, stay apart."""
    a = event(title="Open Mic Night", venue_name=short, lat=40.7187, lon=-73.9900)
    b = other(title="Open Mic Night", venue_name=long, lat=40.7220, lon=-73.9882)
    assert not same_event(a, b)
    assert not same_event(b, a)
    assert same_event(a, attrs.evolve(b, venue_name=short.removeprefix("The ")))


def test_a_distinctive_name_inside_a_longer_one_is_still_the_same_venue() -> None:
    """The subset rule still holds for distinctive names: a sponsor's suffix far from
    a rounded geocode, and a common-word name against itself."""
    a = event(venue_name="Irving Plaza", lat=40.7349, lon=-73.9882)
    b = other(venue_name="Irving Plaza powered by Verizon 5G", lat=40.7500, lon=-73.9882)
    assert same_event(a, b)
    garden = event(venue_name="The Garden", lat=40.7187, lon=-73.9900)
    assert same_event(garden, other(venue_name="Garden", lat=40.7190, lon=-73.9900))


def test_index_compares_only_within_blocks() -> None:
    """Matching against 5,000 events at other times and places stays cheap and correct."""
    index = DedupIndex()
    for n in range(5000):
        index.add(
            n,
            event(
                source="meetup",
                source_id=f"m{n}",
                title=f"Event {n}",
                venue_name=f"Venue {n % 500}",
                starts_at=local(2026, 7, 1, 20, 0) + dt.timedelta(days=n // 500),
                lat=40.6 + (n % 500) * 0.001,
                lon=-74.0 + (n % 500) * 0.001,
            ),
        )
    probe = other(title="Event 1234", venue_name="Venue 234", lat=40.834, lon=-73.766)
    assert index.match(attrs.evolve(probe, starts_at=local(2026, 7, 3, 20, 10))) == 1234
    assert index.comparisons < len(index) // 20  # a block, not the index


def test_a_kind_of_venue_is_no_block_of_its_own() -> None:
    """Comedy clubs, cinemas, opera houses across town share no block: "comedy" alone
    would put a city's comedy venues in one block, and "New York Comedy Club" (whose
    core is just "comedy") would match every "… Comedy House" within 25 km."""
    index = DedupIndex()
    for n, name in enumerate(["Harbor Light Comedy House", "Gotham Comedy Cellar"]):
        index.add(
            n,
            event(
                source="eventbrite",
                source_id=f"comedy-{n}",
                title=f"{name}: Late Show",
                venue_name=name,
                lat=40.800114 + n * 0.01,
                lon=-73.942286,
            ),
        )
    nycc = event(title="New York Comedy Club: Late Show", venue_name="New York Comedy Club")
    nycc = attrs.evolve(nycc, lat=40.738701, lon=-73.979912)
    assert index.match(nycc) is None
    assert index.comparisons == 0  # not even offered: 7 km apart, no shared key


# --------------------------------------------------------------------------- merge


def provider_records() -> list[Event]:
    fetched = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    return [
        event(
            title="Harbor Lights – Summer Tour 2026",
            lat=40.750504,
            lon=-73.993439,
            price_min=49.5,
            price_max=150.0,
            currency="USD",
            url="https://www.ticketmaster.com/e/1",
            image_url="https://s1.ticketm.net/1.jpg",
            description="Short.",
            fetched_at=fetched,
        ),
        other(
            title="Harbor Lights",
            starts_at=local(2026, 7, 10, 0, 0),
            all_day=True,
            lat=40.7505,
            lon=-73.9934,
            price_min=35.0,
            price_max=95.0,
            currency="USD",
            is_free=False,
            description="A much longer description of the evening.",
            description_html="<p>A much longer description of the evening.</p>",
            url="https://www.eventbrite.com/e/2",
            status="cancelled",
            fetched_at=fetched + dt.timedelta(hours=1),
        ),
        event(
            source="yelp",
            source_id="harbor-lights-msg",
            title="Harbor Lights",
            timezone=None,
            venue_name="MSG",
            lat=40.75,
            lon=-73.99,
            url="https://www.yelp.com/events/harbor-lights-msg",
            image_url="https://s3-media.yelpcdn.com/1.jpg",
            category="music",
            tags=("Rock",),
        ),
        event(source="meetup", source_id="qzxbtyhcgbqb", title="Harbor Lights", tags=("Pop",)),
    ]


def test_merge_is_independent_of_arrival_order() -> None:
    """Every permutation of the provider records merges to the same canonical event."""
    records = provider_records()
    results = {repr(merge(list(p))) for p in itertools.permutations(records)}
    assert len(results) == 1
    first = merge(records)
    assert all(merge(list(p)) == first for p in itertools.permutations(records))


def test_merge_field_policy() -> None:
    """Each field follows its documented policy."""
    merged = merge(provider_records())
    assert (merged.source, merged.source_id) == ("ticketmaster", "vvG1IZ9pKx7Qa3")
    assert merged.title == "Harbor Lights"  # carried by three of four records
    assert merged.starts_at == local(2026, 7, 10, 20, 0)  # a real time beats a date
    assert merged.all_day is False
    assert merged.timezone == NY
    assert (merged.lat, merged.lon) == (40.750504, -73.993439)  # most decimals
    assert merged.venue_name == "Madison Square Garden"
    assert merged.description == "A much longer description of the evening."
    assert merged.description_html == "<p>A much longer description of the evening.</p>"
    assert (merged.price_min, merged.price_max, merged.currency) == (35.0, 150.0, "USD")
    assert merged.is_free is False
    assert merged.status == "cancelled"
    assert merged.url == "https://www.ticketmaster.com/e/1"
    assert merged.image_url == "https://s1.ticketm.net/1.jpg"
    assert merged.category == "music"
    assert merged.tags == ("Pop", "Rock")
    assert merged.fetched_at == dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC)
    assert merged.raw == {}
    assert merged.content_hash is None


def test_merge_of_date_only_and_tba_records() -> None:
    """Without a timed record the date-only start is kept; TBA only if no record has a date."""
    day = other(starts_at=local(2026, 7, 10, 0, 0), all_day=True)
    tba = event(starts_at=None, date_tba=True)
    merged = merge([tba, day])
    assert (merged.starts_at, merged.all_day, merged.date_tba) == (day.starts_at, True, False)
    both_tba = merge([tba, other(starts_at=None, date_tba=True)])
    assert (both_tba.starts_at, both_tba.date_tba) == (None, True)


def test_merge_free_flag() -> None:
    """Free only when stated and no price is above zero."""
    free = event(is_free=True)
    assert merge([free, other()]).is_free is True
    assert merge([free, other(price_min=10.0, price_max=20.0)]).is_free is False
    assert merge([event(), other()]).is_free is None


def test_merge_keeps_one_currency() -> None:
    """Price ranges in another currency are not mixed into the union."""
    merged = merge(
        [
            event(price_min=40.0, price_max=80.0, currency="USD"),
            other(price_min=30.0, price_max=60.0, currency="GBP"),
            event(source="yelp", source_id="y", price_min=20.0, price_max=90.0, currency="USD"),
        ]
    )
    assert (merged.price_min, merged.price_max, merged.currency) == (20.0, 90.0, "USD")


@pytest.mark.parametrize(
    "record",
    [
        event(),
        event(tags=("Rock", "Pop", "Rock"), currency="USD"),  # repeats; a currency, no price
        event(starts_at=None, date_tba=False, ends_at=local(2026, 7, 10, 23, 0)),
        event(ends_at=local(2026, 7, 10, 19, 0), timezone="", category="", url=""),
        event(venue_name="", address="", locality="", postal_code="", country=""),
        event(price_min=0.0, price_max=0.0, currency="USD", is_free=True, status="cancelled"),
        event(price_max=25.0, is_free=True, image_url="", fetched_at=None, quality_score=71.0),
        *provider_records(),
    ],
)
def test_merge_of_one_record_follows_the_same_policy(record: Event) -> None:
    """The single-record shortcut gives exactly what the general merge gives."""
    from scenescout_cli.enrich.dedup import _merge_many

    alone = merge([record])
    assert alone == _merge_many([record])
    assert (alone.raw, alone.content_hash) == ({}, None)


def test_merge_of_nothing_is_an_error() -> None:
    """merge([]) raises ValueError."""
    with pytest.raises(ValueError, match="at least one"):
        merge([])


# --------------------------------------------------------------------------- evaluation


def test_labelled_set_meets_the_evaluation_targets() -> None:
    """On fixtures/dedup/pairs.jsonl precision ≥ 0.98 and recall ≥ 0.95."""
    evaluation = eval_module()
    pairs = evaluation.load_pairs()
    assert len(pairs) >= 300
    assert {p.same for p in pairs} == {True, False}
    report = evaluation.evaluate(pairs)
    assert report.precision >= evaluation.PRECISION_TARGET, report.wrongly_merged
    assert report.recall >= evaluation.RECALL_TARGET, report.missed


@pytest.mark.parametrize("crowded", [False, True], ids=["few-places", "many-places"])
def test_geo_search_reaches_every_record_within_near_m(crowded: bool) -> None:
    """Below 53° of latitude a record's search reaches every record within NEAR_M
    (records further apart are only compared through a shared venue key), and none
    more than its cells' reach away, whether the hour's few places are scanned or
    its many are looked up cell by cell."""
    import math
    import random

    from scenescout_cli.enrich.dedup import _SCAN_UP_TO, NEAR_M

    index = DedupIndex()
    if crowded:  # far north, where no probe below reaches
        for n in range(_SCAN_UP_TO + 1):
            index.add(f"filler{n}", event(source_id=f"f{n}", lat=80.0, lon=-179 + n * 0.5))
    rng = random.Random(7)
    reached = missed = 0
    for n in range(3000):
        lat, lon = rng.uniform(-53, 53), rng.uniform(-180, 180)
        # within NEAR_M, or ten times as far
        metres = rng.uniform(0.9, 1.0) * NEAR_M * (10 if n % 4 == 0 else 1)
        bearing = rng.uniform(0, 2 * math.pi)
        north, east = metres * math.cos(bearing), metres * math.sin(bearing)
        other_lat = lat + math.degrees(north / 6_371_000)
        other_lon = lon + math.degrees(east / (6_371_000 * math.cos(math.radians(lat))))
        if abs(other_lat) > 53:
            continue
        found = other(lat=other_lat, lon=other_lon, venue_name=None)
        index.add("found", found)
        before = index.comparisons
        index.match(event(lat=lat, lon=lon, venue_name=None))
        compared = index.comparisons - before
        index.remove((found.source, found.source_id))
        if metres <= NEAR_M:
            assert compared == 1, (lat, lon, other_lat, other_lon)
            reached += 1
        else:
            assert compared == 0, (lat, lon, other_lat, other_lon)
            missed += 1
    assert reached > 2000
    assert missed > 600
