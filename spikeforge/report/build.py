"""Write the HTML report of a run folder."""

from __future__ import annotations

from pathlib import Path

from .collect import collect_run
from .html import render_report

__all__ = ["build_report"]


def build_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Render ``run_dir`` into ``out`` and return the path written.

    ``out`` is an ``.html`` file, or a folder that gets ``report.html`` (default: the run folder).
    """
    run = collect_run(run_dir)
    path = Path(out) if out is not None else run.run_dir / "report.html"
    if path.is_dir() or path.suffix.lower() not in (".html", ".htm"):  # a folder, existing or not
        path = path / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(run), encoding="utf-8")
    return path
