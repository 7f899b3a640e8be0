"""The benchmark suite: `scenescout bench` (scenescout_cli/benchmark.py), results in bench/results.

    bench/suite.py --sizes 10000,100000 [--only throughput,help] [...]

Every option of `scenescout bench` works; --results defaults to this directory's results/.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scenescout_cli.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(arg == "--results" or arg.startswith("--results=") for arg in args):
        args += ["--results", str(Path(__file__).parent / "results")]
    main(["bench", *args])
