"""The benchmark suite: a smoke run of every scenario at its smallest size (real sandbox
processes, real crawls, real PostgreSQL; no timing asserted), and its pure figures."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from scenescout_cli.benchmark import summarise_trace, where_it_waits

from .processes import run_scenescout

pytestmark = pytest.mark.integration


def test_the_benchmark_suite_runs_at_its_smallest_size(tmp_path: Path) -> None:
    """`scenescout bench` at 2,000 events runs every scenario and records each one's figures
    (throughput three times: a size of seconds reports its median run). On a machine
    whose cache has no classifier model, the suite trains it before the first crawl:
    had a crawl trained it, that run's peak would be ~200 MiB above the others'."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENESCOUT_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # no model cached yet
    results_dir = tmp_path / "results"
    done = run_scenescout(
        [
            "bench",
            "--sizes",
            "2000",
            "--images-size",
            "100",
            "--rate-limited-size",
            "2000",
            "--results",
            str(results_dir),
        ],
        env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [json_path] = results_dir.glob("bench-*.json")
    [md_path] = results_dir.glob("bench-*.md")
    results = json.loads(json_path.read_text())
    assert results["errors"] == []

    [run] = results["throughput"]
    assert results["repeats"] == 3
    assert len(run["repeat_ratios"]) == 3  # 2,000 events: three crawls, each with its floor
    assert run["ratio_to_floor"] == sorted(run["repeat_ratios"])[1]
    assert results["default_model_trained_s"] > 0
    assert list((tmp_path / "cache" / "scenescout" / "models").glob("classify-default-*"))
    peaks = run["repeat_peak_rss_mib"]
    assert len(peaks) == 3
    assert max(peaks) < 1.4 * min(peaks)  # no run trained the model (~1.8x when one did)
    assert "it was trained first" in md_path.read_text()
    assert run["status"] == "succeeded"
    assert run["events"] > 1000
    assert run["floor_records"] > 1000
    assert run["ratio_to_floor"] > 0
    assert run["peak_rss_mib"] > 0
    assert run["requests"] > 0
    assert set(run["stages"]) == {"ingest", "process", "store"}
    assert all(stage["busy_s"] > 0 for stage in run["stages"].values())
    assert run["depths"]["process"]["samples"] > 0
    assert run["waits_on"]

    images = results["images"]
    assert images["events"] > 50
    assert images["images"] > 0
    assert images["images_per_s"] > 0

    recrawl = results["recrawl"]
    assert (recrawl["first_status"], recrawl["second_status"]) == ("succeeded", "succeeded")
    assert not recrawl["resumed"]
    assert recrawl["requests"] > 0  # the pages were fetched again
    assert recrawl["events_unchanged"] > 50
    assert recrawl["image_downloads"] == 0
    assert recrawl["geocoder_lookups"] == 0
    assert recrawl["ratio"] > 0

    limited = results["ratelimit"]
    assert limited["events"] > 1000
    assert limited["requests"] > 0
    assert limited["floor_seconds"] > 0
    assert limited["ratio"] > 0

    stop = results["sigint"]
    assert stop["exit_code"] == 130
    assert stop["status"] == "interrupted"
    assert stop["signal_to_exit_s"] is not None
    assert stop["fetched"] > 0
    assert stop["lost"] == 0
    assert stop["ingest_received"] == stop["fetched"]

    assert results["help"]["median_s"] > 0

    assert {row["scenario"] for row in results["targets"]} == {
        "throughput",
        "images",
        "recrawl",
        "ratelimit",
        "sigint",
        "help",
    }
    markdown = md_path.read_text()
    for row in results["targets"]:
        assert row["target"] in markdown
    for heading in ("## Targets", "## Time per stage", "## SIGINT", "## Rate-limited crawl"):
        assert heading in markdown
    for trace in results["files"]["traces"]:
        lines = gzip.decompress((results_dir / trace).read_bytes()).splitlines()
        assert all("t" in json.loads(line) for line in lines)


def test_a_trace_tells_where_the_pipeline_waits() -> None:
    """The bottleneck is the most downstream stage whose queue is often full; none: discovery."""

    def sample(ingest: int, process: int, store: int) -> dict[str, object]:
        stages = {"ingest": (ingest, 8), "process": (process, 1024), "store": (store, 1024)}
        return {
            "t": 0.0,
            "stages": {n: {"depth": d, "capacity": c} for n, (d, c) in stages.items()},
        }

    backed_up = [sample(8, 1024, 3), sample(8, 1024, 0), sample(8, 600, 0), sample(2, 0, 0)]
    depths = summarise_trace(backed_up)
    assert depths["ingest"]["full_share"] == 0.75
    assert depths["process"] == {
        "samples": 4,
        "capacity": 1024,
        "mean_depth": 662.0,
        "max_depth": 1024,
        "full_share": 0.5,
        "empty_share": 0.25,
    }
    assert where_it_waits(depths).startswith("process ")

    starved = summarise_trace([sample(0, 0, 0), sample(1, 0, 0), sample(0, 0, 0)])
    assert where_it_waits(starved).startswith("discovery ")
    assert where_it_waits({}).startswith("unknown")
