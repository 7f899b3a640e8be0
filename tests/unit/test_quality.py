"""Quality score: bounds, the documented weights, monotonicity and the status factor."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import attrs
import pytest

from scenescout_cli.enrich.quality import STATUS_FACTORS, WEIGHTS, quality_score
from scenescout_cli.model import Event

NY = "America/New_York"
START = dt.datetime(2026, 7, 11, 0, 30, tzinfo=dt.UTC)  # 20:30 in New York
DESCRIPTION = (
    "Harbor Lights play songs from their new record with a string section, joined by "
    "openers Glass Orchard. Doors at 7pm, music at 8. Standing room on the floor, seats "
    "in the balcony. All ages; under-16s with an adult. Merch by card only this time, "
    "and the bar serves non-alcoholic options too."
)

# Each feature a listing can add: (name, changes that add it).
FEATURES: dict[str, dict[str, Any]] = {
    "description": {"description": DESCRIPTION},
    "end": {"ends_at": START + dt.timedelta(hours=3)},
    "venue": {"venue_name": "Brooklyn Steel"},
    "address": {"address": "319 Frost St"},
    "coordinates": {"lat": 40.719312, "lon": -73.938815},
    "price": {"price_min": 35.0, "price_max": 55.0, "currency": "USD"},
    "image": {"image_url": "https://example.org/harbor.jpg"},
    "url": {"url": "https://example.org/events/1"},
    "category": {"category": "music"},
    "zone": {"timezone": NY},
}


def bare(**changes: Any) -> Event:
    """A listing with a title and an exact start, nothing else."""
    base = Event("ticketmaster", "vvG1IZ9pKx7Qa3", "Harbor Lights", START, None)
    return attrs.evolve(base, **changes)


def full(**changes: Any) -> Event:
    values: dict[str, Any] = {}
    for feature in FEATURES.values():
        values.update(feature)
    return bare(**{**values, **changes})


def test_weights_sum_to_100() -> None:
    """The documented weights add up to the maximum score."""
    assert sum(WEIGHTS.values()) == pytest.approx(100.0)


def test_a_complete_corroborated_listing_scores_100() -> None:
    """Every feature, three agreeing sources, scheduled: the maximum."""
    assert quality_score(full(), sources=3, agreement=1.0) == 100.0


def test_scores_stay_within_bounds_for_extreme_inputs() -> None:
    """Out-of-range sources and agreement are clamped; the score stays in [0, 100]."""
    worst = bare(title="TBA", starts_at=None, date_tba=True, status="cancelled")
    assert 0.0 <= quality_score(worst, sources=0, agreement=-3.0) <= 10.0
    assert quality_score(full(), sources=99, agreement=7.0) == 100.0


def test_adding_any_feature_never_lowers_the_score() -> None:
    """Over every combination of features, adding one more keeps or raises the score."""
    names = list(FEATURES)
    for size in range(len(names)):
        for present in itertools.combinations(names, size):
            changes: dict[str, Any] = {}
            for name in present:
                changes.update(FEATURES[name])
            before = quality_score(bare(**changes))
            for name in set(names) - set(present):
                after = quality_score(bare(**{**changes, **FEATURES[name]}))
                assert after >= before, (present, name)


def test_an_image_or_a_description_raises_the_score() -> None:
    """Image and description are worth their documented points."""
    base = quality_score(bare())
    assert quality_score(bare(image_url="https://example.org/a.jpg")) == base + WEIGHTS["image"]
    assert quality_score(bare(description=DESCRIPTION)) == base + WEIGHTS["description"]
    assert quality_score(bare(image_url="https://example.org/a.jpg"), has_image=False) == base
    assert quality_score(bare(), has_image=True) == base + WEIGHTS["image"]


def test_longer_descriptions_score_in_steps() -> None:
    """None < a line < a paragraph < a full description; the title repeated counts as none."""
    scores = [
        quality_score(bare(description=text))
        for text in (None, "Live at Brooklyn Steel tonight!", DESCRIPTION[:150], DESCRIPTION)
    ]
    assert scores == sorted(scores)
    assert len(set(scores)) == 4
    assert quality_score(bare(description=" harbor  lights ")) == scores[0]


def test_start_precision_orders_tba_date_only_and_exact() -> None:
    """TBA < date only (all-day, or local midnight) = start without a zone < exact with zone."""
    tba = quality_score(bare(starts_at=None, date_tba=True, timezone=NY))
    midnight = dt.datetime(2026, 7, 11, 4, 0, tzinfo=dt.UTC)  # 00:00 in New York
    date_only = quality_score(bare(starts_at=midnight, timezone=NY))
    all_day = quality_score(bare(all_day=True, timezone=NY))
    no_zone = quality_score(bare())
    exact = quality_score(bare(timezone=NY))
    assert tba < date_only == all_day == no_zone < exact


def test_more_sources_and_agreement_raise_the_score() -> None:
    """Corroboration: more providers and more agreement between them score higher."""
    event = full()
    assert quality_score(event, sources=1) < quality_score(event, sources=2)
    assert quality_score(event, sources=2) < quality_score(event, sources=3)
    assert quality_score(event, sources=3) == quality_score(event, sources=5)
    assert quality_score(event, sources=2, agreement=0.5) < quality_score(event, sources=2)


def test_cancelled_and_postponed_events_are_penalised() -> None:
    """The status factor orders scheduled > rescheduled > postponed > cancelled."""
    scores = [quality_score(full(status=status), sources=3) for status in STATUS_FACTORS]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == 100.0
    assert quality_score(full(status="cancelled"), sources=3) == 40.0


@pytest.mark.parametrize("title", ["TBA", "Event", "untitled event", "  ", "N/A"])
def test_placeholder_titles_earn_nothing(title: str) -> None:
    """A placeholder title scores no title points."""
    assert quality_score(bare(title=title)) == quality_score(bare()) - WEIGHTS["title"]


def test_shouting_or_overlong_titles_earn_half() -> None:
    """ALL-CAPS or very long titles get half the title points."""
    half = quality_score(bare()) - WEIGHTS["title"] / 2
    assert quality_score(bare(title="HARBOR LIGHTS LIVE IN CONCERT")) == half
    assert quality_score(bare(title="Harbor Lights " * 12)) == half


@pytest.mark.parametrize(
    "title",
    [
        "HARBOR LIGHTS LIVE IN CONCERT",
        "Harbor Lights Live",
        "NYC JAZZ FEST w/ guests",
        "ÉTÉ INDIEN EN CONCERT",
        "Été indien en concert",
        "ΜΟΥΣΙΚΗ ΒΡΑΔΙΑ ΣΤΗΝ ΑΘΗΝΑ",
        "1234567 !!!",
        "ABCDEFG h",
        "ABCDEFGH i",
    ],
)
def test_shouting_counts_letters_and_capitals_as_str_does(title: str) -> None:
    """The fast count (bytes, for ASCII titles) agrees with ``isalpha``/``isupper``
    character by character, ASCII or not."""
    letters = [ch for ch in title if ch.isalpha()]
    expected = len(letters) >= 8 and sum(ch.isupper() for ch in letters) > 0.8 * len(letters)
    half = quality_score(bare()) - WEIGHTS["title"] / 2
    assert (quality_score(bare(title=title)) == half) is expected


def test_other_category_earns_no_category_points() -> None:
    """Only a real category counts; "other" is as good as none."""
    assert quality_score(bare(category="other")) == quality_score(bare())


def test_a_category_given_counts_instead_of_the_events_own() -> None:
    """Processing scores the category it is about to give the event."""
    assert quality_score(bare(), category="music") == quality_score(bare(category="music"))
    assert quality_score(bare(category="music"), category=None) == quality_score(bare())
