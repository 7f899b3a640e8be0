"""Benchmark: the pure ingestion path — sanitise, validate, de-duplicate — at scale.

    python bench/dedup_scale.py [--events 100000] [--small 10000]

Builds synthetic provider records for a city (2,000 venues on a ~30 km grid; about a
third of the real-world events listed by two or three providers with the usual
variations: tour suffixes, venue aliases, coordinates tens of metres off, starts
minutes apart, HTML descriptions) and runs every record through ``sanitize``,
``validate`` and ``DedupIndex.match``/``add``, on this thread. Prints events per
second, pairwise comparisons per record (flat when blocking works) for a small and a
large run, and the time ratio, which stays near the size ratio when the cost is linear
(what remains above it is memory: bigger dicts, more garbage-collector passes).

The calendar grows with the number of events (about 1,000 real-world events a day), as
it does in a real crawl: what a linear index needs is that events per place and hour
stay bounded, not that the whole city fits in one evening.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time

from scenescout_cli.enrich.dedup import DedupIndex
from scenescout_cli.enrich.sanitize import sanitize
from scenescout_cli.enrich.validate import validate
from scenescout_cli.errors import RecordRejected
from scenescout_cli.model import Event

ZONE = "America/New_York"
CENTRE = (40.73, -73.95)
_WORDS = """
    harbor lights velvet comets neon arcade juniper echo valley paper lanterns static bloom
    midnight ferry copper pines night swimmer golden hour hollow coast glasshouse satellite
    hearts wildflower orchid tides rivets sundowners monsoons lowland menagerie
"""
WORDS = _WORDS.split()
KINDS = ["Hall", "Room", "Club", "Theatre", "Bar"]
TOURS = ["Summer Tour 2026", "World Tour", "Afterglow Tour", "Live"]
DESCRIPTION = (
    "<p>Doors at 7pm. <strong>All ages</strong> with ID.</p>"
    "<ul><li>General admission</li><li>Bar on site</li></ul>"
    '<p>More at <a href="https://example.com/e/{n}" onclick="x()">the listing</a>.</p>'
)


_SYLLABLES = "ka lo mi tre so van ri ba du nel or fa zen pu ki mar bel to sa ne gro li vo"
SYLLABLES = _SYLLABLES.split()


def pseudo_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice([2, 3]))).title()


def venues(rng: random.Random, count: int) -> list[tuple[str, float, float]]:
    """Venue names as varied as a city's: mostly one or two distinctive words."""
    out = []
    for _ in range(count):
        words = [pseudo_word(rng) for _ in range(rng.choice([1, 1, 2]))]
        name = f"{' '.join(words)} {rng.choice(KINDS)}"
        out.append(
            (name, CENTRE[0] + rng.uniform(-0.14, 0.14), CENTRE[1] + rng.uniform(-0.18, 0.18))
        )
    return out


def records(count: int, seed: int = 7) -> list[Event]:
    """``count`` provider records, about 1.5 per real-world event."""
    rng = random.Random(seed)
    places = venues(rng, 2000)
    first_day = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    days = max(1, count // 1500)
    out: list[Event] = []
    n = 0
    while len(out) < count:
        n += 1
        name, lat, lon = rng.choice(places)
        title = " ".join(rng.sample(WORDS, 2)).title()
        start = first_day + dt.timedelta(
            days=rng.randrange(days),
            hours=rng.choice([23, 24, 25, 26]),
            minutes=rng.choice([0, 30]),
        )
        copies = rng.choice([1, 1, 2, 2, 3])
        for copy in range(copies):
            source = ("ticketmaster", "eventbrite", "yelp", "meetup")[copy]
            varied = copy > 0
            out.append(
                Event(
                    source=source,
                    source_id=f"{source[:2]}{n}",
                    title=f"{title} – {rng.choice(TOURS)}" if varied else title,
                    starts_at=start + dt.timedelta(minutes=rng.choice([0, 10]) if varied else 0),
                    timezone=ZONE,
                    venue_name=name.upper() if varied else name,
                    lat=lat + (rng.uniform(-3e-4, 3e-4) if varied else 0),
                    lon=lon + (rng.uniform(-3e-4, 3e-4) if varied else 0),
                    description=DESCRIPTION.format(n=n) if copy == 1 else "Plain text.",
                    url=f"https://example.com/{source}/{n}",
                )
            )
    return out[:count]


def run(events: list[Event]) -> tuple[float, int, int, float]:
    """(seconds, canonical events, rejects, comparisons per record) for one pass."""
    index = DedupIndex()
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    canonical = rejects = 0
    t = time.perf_counter()
    for event in events:
        clean = sanitize(event)
        try:
            validate(clean, now=now)
        except RecordRejected:
            rejects += 1
            continue
        key = index.match(clean)
        if key is None:
            key = canonical
            canonical += 1
        index.add(key, clean)
    return time.perf_counter() - t, canonical, rejects, index.comparisons / len(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    args = parser.parse_args()
    results = []
    for count in (args.small, args.events):
        events = records(count)
        seconds, canonical, rejects, per_record = run(events)
        results.append((count, seconds))
        print(
            f"{count:>8} records  {seconds:7.2f} s  {count / seconds:>9,.0f} events/s  "
            f"{per_record:5.1f} comparisons/record  "
            f"→ {canonical} canonical events, {rejects} rejected"
        )
    (small, t_small), (large, t_large) = results
    print(
        f"size ×{large / small:.1f} → time ×{t_large / t_small:.2f} "
        f"(linear: ≈ ×{large / small:.1f})"
    )


if __name__ == "__main__":
    main()
