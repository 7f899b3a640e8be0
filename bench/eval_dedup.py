"""Evaluate the de-duplication matcher on the labelled pairs in fixtures/dedup/.

    python bench/eval_dedup.py [--pairs fixtures/dedup/pairs.jsonl] [--quiet]

Runs ``scenescout_cli.enrich.dedup.same_event`` — the very decision the index uses —
on every labelled pair, prints precision, recall and F1 with the notes of the
misclassified pairs, and exits 1 when precision < 0.98 or recall < 0.95.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from scenescout_cli.enrich.dedup import same_event
from scenescout_cli.model import Event

PAIRS = Path(__file__).parents[1] / "fixtures" / "dedup" / "pairs.jsonl"
PRECISION_TARGET = 0.98
RECALL_TARGET = 0.95

_FIELDS = {field.name for field in attrs.fields(Event)}


@attrs.frozen
class Pair:
    a: Event
    b: Event
    same: bool
    note: str


@attrs.frozen
class Report:
    true_pos: int
    false_pos: int
    false_neg: int
    true_neg: int
    missed: list[Pair]  # labelled same, judged different
    wrongly_merged: list[Pair]  # labelled different, judged same

    @property
    def precision(self) -> float:
        judged = self.true_pos + self.false_pos
        return self.true_pos / judged if judged else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_pos + self.false_neg
        return self.true_pos / actual if actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def meets_targets(self) -> bool:
        return self.precision >= PRECISION_TARGET and self.recall >= RECALL_TARGET


def event_from_fixture(fields: dict[str, Any]) -> Event:
    """An Event from one side of a labelled pair (Event field names, ISO instants)."""
    unknown = set(fields) - _FIELDS
    if unknown:
        raise ValueError(f"unknown Event fields in fixture: {sorted(unknown)}")
    values = dict(fields)
    for name in ("starts_at", "ends_at", "fetched_at"):
        if values.get(name) is not None:
            values[name] = dt.datetime.fromisoformat(values[name])
    values.setdefault("starts_at", None)
    values.setdefault("timezone", None)
    return Event(**values)


def load_pairs(path: Path = PAIRS) -> list[Pair]:
    pairs = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                item = json.loads(line)
                pairs.append(
                    Pair(
                        a=event_from_fixture(item["a"]),
                        b=event_from_fixture(item["b"]),
                        same=bool(item["same"]),
                        note=item.get("note", ""),
                    )
                )
    return pairs


def evaluate(pairs: Iterable[Pair]) -> Report:
    tp = fp = fn = tn = 0
    missed, merged = [], []
    for pair in pairs:
        judged = same_event(pair.a, pair.b)
        if judged and pair.same:
            tp += 1
        elif judged:
            fp += 1
            merged.append(pair)
        elif pair.same:
            fn += 1
            missed.append(pair)
        else:
            tn += 1
    return Report(tp, fp, fn, tn, missed, merged)


def _describe(pair: Pair) -> str:
    def side(e: Event) -> str:
        when = e.starts_at.isoformat() if e.starts_at else "TBA"
        return f"{e.source}: {e.title!r} @ {e.venue_name!r} {when}"

    return f"  - {pair.note}\n      {side(pair.a)}\n      {side(pair.b)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--quiet", action="store_true", help="only the summary line")
    args = parser.parse_args()
    pairs = load_pairs(args.pairs)
    report = evaluate(pairs)
    positives = report.true_pos + report.false_neg
    print(f"{len(pairs)} labelled pairs ({positives} same, {len(pairs) - positives} different)")
    print(
        f"precision {report.precision:.3f} (target {PRECISION_TARGET})  "
        f"recall {report.recall:.3f} (target {RECALL_TARGET})  F1 {report.f1:.3f}"
    )
    print(
        f"TP {report.true_pos}  FP {report.false_pos}  FN {report.false_neg}  TN {report.true_neg}"
    )
    if not args.quiet:
        if report.wrongly_merged:
            print("\nwrongly merged (labelled different):")
            print("\n".join(_describe(p) for p in report.wrongly_merged))
        if report.missed:
            print("\nmissed (labelled same):")
            print("\n".join(_describe(p) for p in report.missed))
    if not report.meets_targets:
        print("\nbelow target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
