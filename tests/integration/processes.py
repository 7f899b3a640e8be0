"""Running the real console script in a subprocess."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def scenescout_executable() -> str:
    """The console script installed beside the running interpreter."""
    return shutil.which("scenescout", path=str(Path(sys.executable).parent)) or "scenescout"


def run_scenescout(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``scenescout ARGS`` to completion and capture its output."""
    return subprocess.run(
        [scenescout_executable(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
