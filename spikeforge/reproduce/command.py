"""``spikeforge reproduce``: the reproduction study from the command line, a plug-in command.

The study registers it (:func:`register`, called by :mod:`.plugin`) the way a third-party package
registers its own commands, so the command line imports the study only through the registry.

    spikeforge reproduce [--quick | --full] [--out DIR] [--claims 1 2 ...] [--seeds N] [--jobs N] [--threads N]

An interrupted study continues where it stopped when run again with the same arguments:
every finished run is read back from ``OUT/runs``.
"""

from __future__ import annotations

import argparse

from ..command_registry import register_command
from ..errors import UserError

__all__ = ["register", "run_reproduce"]


def _configure(p: argparse.ArgumentParser) -> None:
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer seeds (default); runs a subset of --full's")
    mode.add_argument(
        "--full", action="store_true", help="more seeds and factors (docs/results.md), the same per-run budgets"
    )
    p.add_argument(
        "--out", default="runs/reproduce", metavar="DIR", help="output folder (default runs/reproduce, git-ignored)"
    )
    p.add_argument("--claims", nargs="+", type=int, default=None, metavar="N", help="claim numbers 1-6 (default all)")
    p.add_argument("--seeds", type=int, default=None, metavar="N", help="seeds 0..N-1 for every task")
    p.add_argument(
        "--jobs", type=int, default=None, metavar="N", help="runs trained in parallel processes (default min(2, CPUs))"
    )
    p.add_argument("--threads", type=int, default=None, metavar="N", help="torch threads per run (default CPUs/jobs)")


def run_reproduce(args: argparse.Namespace) -> int:
    """Run the study; returns the exit status."""
    from .claims import CLAIMS
    from .study import run_study
    from .tasks import BUDGETS

    budget = BUDGETS["full" if args.full else "quick"]
    if args.seeds is not None:
        budget = budget.with_seeds(args.seeds)
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {args.jobs}")
    run_study(args.out, budget=budget, claims=args.claims or list(CLAIMS), jobs=args.jobs, threads=args.threads)
    return 0


def register() -> None:
    """Register ``spikeforge reproduce`` (it trains: the command line sets the allocator up first)."""
    register_command(
        "reproduce",
        help="test the papers' claims on the embedded data (tables, plots, verdicts)",
        description=(
            "Train the arms of each claim (>= 3 seeds, same budget per arm), aggregate mean ± std, compare and "
            "write per-claim tables (CSV, JSON, markdown), PNG plots and summary.md with a verdict per claim."
        ),
        configure=_configure,
        handler=run_reproduce,
        tunes_allocator=True,
    )
