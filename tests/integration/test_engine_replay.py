"""bench/engine_replay.py: a real sandbox crawl's pages recorded, then replayed through
the engine alone with the same decisions each time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..unit.bench_scripts import BENCH

pytestmark = pytest.mark.integration


def _script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / "engine_replay.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_recorded_pages_replay_with_the_same_decisions(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENESCOUT_")}
    pages = tmp_path / "pages.pkl"
    recorded = _script("record", str(pages), "--events", "1500", env=env)
    assert recorded.returncode == 0, recorded.stderr[-2000:]
    assert "(crawl exit 0)" in recorded.stdout

    runs = []
    for n in (1, 2):
        decisions = tmp_path / f"decisions-{n}.json"
        replayed = _script("replay", str(pages), "--decisions", str(decisions), env=env)
        assert replayed.returncode == 0, replayed.stderr[-2000:]
        runs.append((json.loads(replayed.stdout), json.loads(decisions.read_text())))
    (figures, decided), (_, decided_again) = runs
    assert figures["pages"] > 1
    assert figures["records"] >= figures["linked"] > 1000
    assert 0 < figures["canonical_events"] <= figures["linked"]
    assert figures["us_per_record"] > 0
    assert figures["comparisons_per_record"] >= 0
    assert len(decided) == figures["linked"]
    assert decided == decided_again

    first = _script("replay", str(pages), "--pages", "1", env=env)
    assert json.loads(first.stdout)["pages"] == 1
