"""Functions a test calls inside a worker process to see what it has imported.

This module imports only the standard library's ``sys`` and ``importlib``: unpickling
a call to it imports nothing else into the process (a test module's own imports, Trio
among them, would).
"""

from __future__ import annotations

import importlib
import sys


def imported(name: str) -> bool:
    """Whether the process has imported the module ``name``."""
    return name in sys.modules


def imported_after(module: str, name: str) -> bool:
    """Whether importing ``module`` leaves ``name`` imported in the process."""
    importlib.import_module(module)
    return name in sys.modules


def blas_threads() -> list[int]:
    """The thread count of each BLAS library numpy loads here (imports numpy)."""
    import numpy  # noqa: F401  (loads its BLAS)
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
