"""Evaluate the text classifier on a held-out split of fixtures/classify/labelled.jsonl.

    python bench/eval_classify.py [--labelled PATH] [--seed 7] [--test-size 0.25]
                                  [--by-scenario] [--errors]

Trains ``scenescout_cli.enrich.classify.TextClassifier`` — the very model the pipeline
uses — on a stratified split (fixed seed), prints precision, recall and F1 per category
and the macro-F1, and exits 1 when the macro-F1 is below 0.85.

``--by-scenario`` also reports a harder split that holds out whole template families
(the ``scenario`` field: no title or description pattern of a test example was seen in
training); it is informative only and sets no exit status. ``--errors`` lists the
misclassified test examples.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs

from scenescout_cli.enrich.classify import LABELLED, TextClassifier, _join
from scenescout_cli.model import CATEGORIES

TARGET = 0.85
SEED = 7
TEST_SIZE = 0.25


@attrs.frozen
class Example:
    text: str
    category: str
    scenario: str


@attrs.frozen
class Report:
    per_category: dict[str, tuple[float, float, float, int]]  # precision, recall, F1, support
    macro_f1: float
    accuracy: float
    errors: list[tuple[Example, str, float]]  # example, predicted, confidence
    train_size: int
    test_size: int


def load_examples(path: Path = LABELLED) -> list[Example]:
    examples = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                examples.append(
                    Example(
                        _join(row["title"], row["description"]),
                        row["category"],
                        row.get("scenario", row["category"]),
                    )
                )
    return examples


def split(
    examples: Sequence[Example], *, seed: int = SEED, test_size: float = TEST_SIZE
) -> tuple[list[Example], list[Example]]:
    """A stratified train/test split, the same for the same seed."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        list(examples),
        test_size=test_size,
        random_state=seed,
        stratify=[e.category for e in examples],
    )
    return train, test


def split_by_scenario(
    examples: Sequence[Example], *, seed: int = SEED
) -> tuple[list[Example], list[Example]]:
    """About a quarter of each category's template families held out whole."""
    from sklearn.model_selection import StratifiedGroupKFold

    folds = StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=seed)
    labels = [e.category for e in examples]
    groups = [e.scenario for e in examples]
    train_idx, test_idx = next(folds.split(examples, labels, groups))
    return [examples[i] for i in train_idx], [examples[i] for i in test_idx]


def evaluate(train: Sequence[Example], test: Sequence[Example]) -> Report:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    model = TextClassifier().fit([e.text for e in train], [e.category for e in train])
    predicted = model.predict_with_confidence([e.text for e in test])
    truth = [e.category for e in test]
    guesses = [label for label, _ in predicted]
    labels = [c for c in CATEGORIES if c in set(truth)]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, guesses, labels=labels, zero_division=0
    )
    per_category = {
        label: (float(p), float(r), float(f), int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    errors = [
        (example, label, confidence)
        for example, (label, confidence) in zip(test, predicted, strict=True)
        if label != example.category
    ]
    return Report(
        per_category=per_category,
        macro_f1=float(sum(f1) / len(f1)),
        accuracy=float(accuracy_score(truth, guesses)),
        errors=errors,
        train_size=len(train),
        test_size=len(test),
    )


def _print(report: Report, heading: str, *, errors: bool) -> None:
    print(f"{heading}: {report.train_size} train, {report.test_size} test")
    print(f"  {'category':<12} {'precision':>9} {'recall':>7} {'F1':>6} {'n':>4}")
    for label, (p, r, f, n) in report.per_category.items():
        print(f"  {label:<12} {p:>9.3f} {r:>7.3f} {f:>6.3f} {n:>4}")
    print(f"  macro-F1 {report.macro_f1:.3f}   accuracy {report.accuracy:.3f}")
    if errors and report.errors:
        print("  misclassified:")
        for example, label, confidence in report.errors:
            text = example.text.replace("\n", " | ")
            print(f"    {example.category} → {label} ({confidence:.2f}): {text[:110]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelled", type=Path, default=LABELLED)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--test-size", type=float, default=TEST_SIZE)
    parser.add_argument("--by-scenario", action="store_true", help="also hold out whole families")
    parser.add_argument("--errors", action="store_true", help="list misclassified examples")
    args = parser.parse_args(argv)
    examples = load_examples(args.labelled)
    report = evaluate(*split(examples, seed=args.seed, test_size=args.test_size))
    _print(report, f"stratified split (seed {args.seed})", errors=args.errors)
    if args.by_scenario:
        print()
        held_out = evaluate(*split_by_scenario(examples, seed=args.seed))
        _print(held_out, "template families held out (informative)", errors=args.errors)
    print(f"\nmacro-F1 {report.macro_f1:.3f} (target {TARGET})")
    if report.macro_f1 < TARGET:
        print("below target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
