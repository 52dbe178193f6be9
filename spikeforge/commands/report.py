"""``spikeforge report RUN_DIR [--out FILE]``: the run as one self-contained HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..command_registry import register_command
from ..errors import SpikeForgeError

__all__ = ["run_report"]


def _configure(p: argparse.ArgumentParser) -> None:
    """The ``report`` arguments."""
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--out", type=Path, help="output file or folder (default RUN_DIR/report.html)")


def run_report(args: argparse.Namespace) -> int:
    """Build the report; user errors print one line and return 2 (re-raised with ``args.debug``)."""
    from ..report.build import build_report

    try:
        path = build_report(args.run_dir, args.out)
    except SpikeForgeError as e:  # the user's faults only; anything else is a bug and keeps its traceback
        if getattr(args, "debug", False):
            raise
        print(f"spikeforge report: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


register_command(
    "report",
    help="one self-contained HTML page of a run (config, metrics, curves, activity, energy, analyses)",
    description="Write RUN_DIR/report.html: every figure embedded, no external resources; open it in a browser.",
    configure=_configure,
    handler=run_report,
)
