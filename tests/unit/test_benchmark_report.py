"""The benchmark's report: how a throughput run is compared with the floor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scenescout_cli import benchmark


def test_the_floor_is_compared_in_records_the_pages_hold_not_events_stored() -> None:
    """A crawl that fetched 1,500 records in 3 s (storing 1,000 events: the rest were
    repeats of overlapping queries) against a floor that fetched the same 1,500 in 1.5 s
    is at half the floor, not at a third."""
    ratio, crawl_rate, floor_rate = benchmark.floor_ratio(1_500, 3.0, 1_500, 1.5)
    assert (ratio, crawl_rate, floor_rate) == (0.5, 500.0, 1_000.0)


@pytest.mark.parametrize(("records", "seconds"), [(None, None), (0, 1.0), (1_500, 0.0)])
def test_without_a_floor_there_is_no_ratio(records: int | None, seconds: float | None) -> None:
    ratio, crawl_rate, floor_rate = benchmark.floor_ratio(1_500, 3.0, records, seconds)
    assert (ratio, crawl_rate, floor_rate) == (None, 500.0, None)


def _run(ratio: float | None, error: str | None = None) -> dict[str, Any]:
    return {
        "size": 1_000_000,
        "status": "succeeded",
        "events": 954_864,
        "records": 1_432_660,
        "crawl_seconds": 719.07,
        "start_up_s": 0.66,
        "in_run_s": 717.567,
        "shut_down_s": 0.84,
        "crawl_records_per_s": 1_992.4,
        "crawl_events_per_s": 1_327.9,
        "floor_records_per_s": 4_056.8 if ratio is not None else None,
        "floor_error": error,
        "ratio_to_floor": ratio,
        "peak_rss_mib": 371.7,
        "requests": 11_145,
        "waits_on": "ingest",
        "fetch_s": 336.2,
        "stages": {},
        "depths": {},
    }


def test_a_throughput_target_reports_both_rates_and_the_distance() -> None:
    [row] = benchmark.targets({"throughput": [_run(0.491)]})
    assert row["met"] is False
    assert row["measured"] == ("0.491 (1,992.4 vs 4,056.8 records/s; 1,327.9 events/s stored)")
    assert row["distance"].startswith("short by 0.009")
    [met] = benchmark.targets({"throughput": [_run(0.5)]})
    assert met["met"] is True


def test_a_run_without_a_floor_says_why() -> None:
    [row] = benchmark.targets({"throughput": [_run(None, "the floor got HTTP 429")]})
    assert row["met"] is False
    assert row["distance"] == "no floor: the floor got HTTP 429"


def test_the_markdown_table_shows_records_and_events() -> None:
    results = {
        "machine": {"cpus": 2, "python": "3.11.7"},
        "when": "2026-11-29T15:00:00+00:00",
        "commit": "abc1234",
        "throughput": [_run(0.491)],
    }
    results["targets"] = benchmark.targets(results)
    text = benchmark.render_markdown(results)
    assert (
        "| 954,864 | 1,432,660 | succeeded | 719.07 | 0.66 / 717.567 / 0.84 | 1,992.4 | "
        "4,056.8 | 0.491 | 1,327.9 | 371.7 | 11145 | ingest |"
    ) in text
    assert "records fetched per second" in text


def test_the_markdown_names_the_packages_and_the_bytecode() -> None:
    results = {
        "machine": {
            "cpus": 2,
            "python": "3.11.7",
            "packages": {"trio": "0.35.0", "typer": "0.29.2"},
            "bytecode": "compiled",
        },
        "when": "2026-11-29T15:00:00+00:00",
        "commit": "abc1234",
        "targets": [],
    }
    text = benchmark.render_markdown(results)
    assert "Packages: trio 0.35.0, typer 0.29.2. Bytecode: compiled." in text


def test_bytecode_is_written_before_the_clock_starts(tmp_path: Path) -> None:
    """The suite compiles the package as installing a wheel would, even where
    PYTHONDONTWRITEBYTECODE kept every crawl from writing it."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text("VALUE = 1\n")
    assert benchmark.compile_bytecode(package) == "compiled"
    assert list((package / "__pycache__").glob("mod.*.pyc"))
    (package / "broken.py").write_text("def (:\n")
    assert benchmark.compile_bytecode(package).startswith("not compiled")


def test_package_versions_name_each_key_package() -> None:
    versions = benchmark.package_versions()
    assert set(versions) == set(benchmark.KEY_PACKAGES)
    assert versions["trio"] not in ("", "-")


def test_a_repeated_size_reports_its_median_run_and_every_ratio(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Three runs at a size: the row is the whole run whose ratio is the median (its
    rates and memory with it), every ratio is kept, and each run's floor is told what
    the sandbox's quota has served so far."""
    ratios = iter([0.5, 0.45, 0.38])
    seen_used: list[int] = []

    def once(self: Any, sandbox: object, size: int, label: str, used: int) -> dict[str, Any]:
        seen_used.append(used)
        ratio = next(ratios)
        return _run(ratio) | {
            "label": label,
            "requests": 60,
            "floor_requests_here": 70,
            "peak_rss_mib": ratio * 100,
        }

    monkeypatch.setattr(benchmark._Suite, "_throughput_once", once)
    suite = benchmark._Suite(tmp_path, "stamp", tmp_path)
    row = suite.throughput(object(), 10_000, 3)  # type: ignore[arg-type]
    assert row["ratio_to_floor"] == 0.45
    assert row["label"] == "throughput-10000-2"
    assert row["peak_rss_mib"] == 45.0
    assert row["repeat_ratios"] == [0.5, 0.45, 0.38]
    assert "floor_requests_here" not in row
    assert seen_used == [0, 130, 260]


def test_a_repeated_size_takes_its_median_among_the_runs_with_a_floor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ratios = iter([None, 0.4])

    def once(self: Any, sandbox: object, size: int, label: str, used: int) -> dict[str, Any]:
        return _run(next(ratios), "the floor got HTTP 429") | {"floor_requests_here": 0}

    monkeypatch.setattr(benchmark._Suite, "_throughput_once", once)
    row = benchmark._Suite(tmp_path, "s", tmp_path).throughput(object(), 2_000, 2)  # type: ignore[arg-type]
    assert row["ratio_to_floor"] == 0.4  # the lower median of what was measured
    assert row["repeat_ratios"] == [None, 0.4]


def test_the_target_and_the_markdown_show_a_repeated_sizes_ratios() -> None:
    run = _run(0.45) | {"repeat_ratios": [0.45, 0.38, 0.5]}
    results = {
        "machine": {"cpus": 2, "python": "3.11.7"},
        "when": "2026-11-30T15:00:00+00:00",
        "commit": "abc1234",
        "throughput": [run],
    }
    results["targets"] = benchmark.targets(results)
    [row] = results["targets"]
    assert row["measured"].endswith(
        "; the median of 3 runs, each against its own floor: 0.45, 0.38, 0.5"
    )
    assert row["met"] is False
    text = benchmark.render_markdown(results)
    assert "One run: read the ratios" in text  # run without ``repeats`` recorded
    results["repeats"] = 3
    text = benchmark.render_markdown(results)
    assert "(throughput at sizes up to 10,000 events: 3 crawls, the median reported)" in text
    assert "the crawl ran 3 times, each followed by its floor" in text
    assert "(ratios: 0.45, 0.38, 0.5)" in text
