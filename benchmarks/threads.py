"""``--threads N`` for the benchmark scripts: BLAS/OpenMP thread pools, set before NumPy loads."""

from __future__ import annotations

import argparse
import os

DEFAULT_THREADS = 1
"""Threads for NumPy's BLAS (and torch) unless ``--threads`` says otherwise (0: library defaults).

One thread gives steady, comparable numbers on a shared machine: with several BLAS and OpenMP pools
spinning in one process on two busy cores, timings were 3-10x slower and erratic."""


def threads_arg(argv: list[str]) -> int | None:
    """The value of ``--threads`` in ``argv`` (``None`` when absent or malformed)."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--threads=") else None
        if arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        if value is not None:
            return int(value) if value.isdigit() else None
    return None


def early_threads(argv: list[str]) -> None:
    """Apply ``--threads N`` (default ``DEFAULT_THREADS``) to the BLAS/OpenMP thread pools through
    their environment variables; must run before NumPy is imported."""
    n = threads_arg(argv)
    n = DEFAULT_THREADS if n is None else n
    if n > 0:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(n)


def add_threads_argument(parser: argparse.ArgumentParser, what: str = "BLAS threads") -> None:
    """``--threads N`` (default ``DEFAULT_THREADS``; 0: the libraries' defaults), an int >= 0.

    ``early_threads`` applies it before NumPy loads; the parser only documents and checks it.
    """
    from lrp_toolbox.cli import int_at_least  # loads NumPy: only after early_threads

    parser.add_argument(
        "--threads",
        type=int_at_least(0),
        default=DEFAULT_THREADS,
        help=f"{what} (default {DEFAULT_THREADS}; 0: the libraries' defaults)",
    )
