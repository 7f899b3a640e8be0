"""The benchmark suite (scenescout_cli/benchmark.py): bench/suite.py --sizes 10000,100000"""

from __future__ import annotations

import argparse
from pathlib import Path

from scenescout_cli.benchmark import run_suite

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--results", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    run_suite([int(s) for s in args.sizes.split(",")], Path(args.results))
