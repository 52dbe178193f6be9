"""What a claim's analysis returns and how it is written: CSV, JSON and markdown tables, summary.md.

A :class:`ClaimReport` holds the claim's main table (``rows`` with named ``columns``), its
comparisons (one row each, with the verdict of :func:`spikeforge.reproduce.stats.compare`),
the combined verdict, the rule that produced it, and the figures. :func:`write_claim` writes
``table.csv|json|md`` and ``comparisons.csv|json|md`` into the claim's folder;
:func:`write_summary` writes the study's ``summary.md`` and ``summary.json``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..analysis.jsonio import write_json
from .stats import Comparison, resolution

__all__ = ["ClaimReport", "comparison_row", "markdown_table", "write_claim", "write_summary"]


@dataclasses.dataclass
class ClaimReport:
    """The result of one claim.

    Attributes:
        key: folder name, e.g. ``claim1_imp_static``.
        number: the claim's number in the brief (1-6).
        title: one line.
        statement: what the paper claims, in a sentence.
        setup: what was run (tasks, arms, budget) in a few sentences.
        rule: how the verdict follows from the comparisons.
        verdict: ``holds here`` / ``does not hold here`` / ``inconclusive``.
        columns: ``(key, header)`` of the main table, in order.
        rows: the main table.
        comparisons: one row per comparison (see :func:`comparison_row`).
        sub_verdicts: named partial verdicts (e.g. claim 5's dead neurons vs rescue).
        figures: PNG paths.
        notes: remarks computed from the numbers (never hard-coded outcomes).
        run_seconds: summed training time of the runs this claim used (reused runs included).
        headroom: how far the baseline is from the metric's ceiling and chance (one line, from the
            numbers), so that a reader sees whether the test could show the effect.
        figure_caption: what the claim's main figure shows.
    """

    key: str
    number: int
    title: str
    statement: str
    setup: str
    rule: str
    verdict: str
    columns: list[tuple[str, str]]
    rows: list[dict[str, Any]]
    comparisons: list[dict[str, Any]]
    sub_verdicts: dict[str, str] = dataclasses.field(default_factory=dict)
    figures: list[Path] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    run_seconds: float = 0.0
    headroom: str = ""
    figure_caption: str = ""


def comparison_row(label: str, metric: str, cmp: Comparison, scale: float = 1.0, digits: int = 2) -> dict[str, Any]:
    """A comparison as a table row: both arms as ``mean ± std``, the signed difference, SE and verdict.

    ``scale`` converts units for display (100 for accuracies in percent); the raw numbers are
    kept in the ``*_raw`` fields for the JSON output.
    """

    def num(v: float) -> str:
        return "n/a" if not math.isfinite(v) else f"{scale * v:+.{digits}f}"

    # power at the margin from the observed spread of the per-seed differences (stats.resolution)
    n, sd, p, needed = resolution(cmp)
    seeds = "n/a" if needed is None else f"{n} ({p:.0%}); {needed} for 80%"

    return {
        "comparison": label,
        "metric": metric,
        "treatment": cmp.treatment.fmt(scale, digits),
        "baseline": cmp.baseline.fmt(scale, digits),
        "diff": num(cmp.diff),
        "se": "n/a" if not math.isfinite(cmp.se) else f"{scale * cmp.se:.{digits}f}",
        "interval": f"[{num(cmp.lo)}, {num(cmp.hi)}]",
        "kind": cmp.kind,
        "margin": f"{scale * cmp.margin:g}",
        "seeds": seeds,
        "verdict": cmp.verdict,
        "raw": {
            "treatment": dataclasses.asdict(cmp.treatment),
            "baseline": dataclasses.asdict(cmp.baseline),
            "diff": cmp.diff,
            "se": cmp.se,
            "lo": cmp.lo,
            "hi": cmp.hi,
            "margin": cmp.margin,
            "sd_of_differences": sd,
            "power": p,
            "seeds_needed": needed,
        },
    }


COMPARISON_COLUMNS: list[tuple[str, str]] = [
    ("comparison", "comparison"),
    ("metric", "metric"),
    ("treatment", "treatment"),
    ("baseline", "baseline"),
    ("diff", "d (favours treatment if > 0)"),
    ("se", "SE of d"),
    ("interval", "d ± 2 SE"),
    ("kind", "test"),
    ("margin", "margin"),
    ("seeds", "seeds (power at the margin); seeds for 80%"),
    ("verdict", "verdict"),
]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.4g}"
    return str(v).replace("|", "\\|")


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A GitHub markdown table of ``rows`` restricted to ``columns``."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join(lines)


def _write_csv(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([k for k, _ in columns])
        for r in rows:
            w.writerow([_cell(r.get(k)) for k, _ in columns])


def write_claim(report: ClaimReport, out_dir: Path) -> dict[str, Path]:
    """Write the claim's tables (CSV, JSON, markdown) into ``out_dir`` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "table_csv": out_dir / "table.csv",
        "table_json": out_dir / "table.json",
        "table_md": out_dir / "table.md",
        "comparisons_csv": out_dir / "comparisons.csv",
        "comparisons_md": out_dir / "comparisons.md",
    }
    _write_csv(files["table_csv"], report.rows, report.columns)
    _write_csv(files["comparisons_csv"], report.comparisons, COMPARISON_COLUMNS)
    payload = {k: v for k, v in dataclasses.asdict(report).items()}
    write_json(files["table_json"], payload)
    files["table_md"].write_text(claim_markdown(report, heading="#") + "\n")
    files["comparisons_md"].write_text(markdown_table(report.comparisons, COMPARISON_COLUMNS) + "\n")
    return files


def claim_markdown(report: ClaimReport, heading: str = "##", figure_dir: Path | None = None) -> str:
    """The claim as markdown: statement, setup, table, comparisons, verdict and rule, figures."""
    parts = [
        f"{heading} Claim {report.number}: {report.title}",
        "",
        f"**Paper claim.** {report.statement}",
        "",
        f"**Setup.** {report.setup}",
        "",
        markdown_table(report.rows, report.columns),
        "",
        "Comparisons (treatment vs baseline, mean ± std over seeds):",
        "",
        markdown_table(report.comparisons, COMPARISON_COLUMNS),
        "",
        f"**Verdict: {report.verdict}.** {report.rule}",
    ]
    if report.headroom:
        parts += ["", f"**Headroom.** {report.headroom}"]
    if report.sub_verdicts:
        parts += ["", *[f"* {name}: **{v}**" for name, v in report.sub_verdicts.items()]]
    if report.notes:
        parts += ["", *[f"* {n}" for n in report.notes]]
    for fig in report.figures:
        where = (figure_dir / Path(fig).name) if figure_dir is not None else Path(fig).name
        parts += ["", f"![claim {report.number}]({where})"]
    if report.figure_caption and report.figures:
        parts += ["", f"*Figure: {report.figure_caption}*"]
    return "\n".join(parts)


RULE = [
    "**Verdict rule** (`spikeforge/reproduce/stats.py`). Each comparison pits a treatment arm against a baseline",
    "arm with the same seeds (same initial weights and batch order), so it is paired: d = mean of the per-seed",
    "differences (signed so that d > 0 favours the treatment), SE = std of those differences / sqrt(n). A",
    "superiority claim holds here if d - 2 SE > 0, does not hold here if d + 2 SE < 0 (significantly worse), is",
    "a tie (**no difference here**) if the whole interval lies within ±margin, and is inconclusive otherwise; a",
    "non-inferiority claim holds if d - 2 SE > -margin and does not hold if d < -margin and d + 2 SE < 0. Before",
    "that, a comparison that cannot show the effect is **untestable here**: neither arm above chance + margin, or",
    "the baseline within the margin of the ceiling (no headroom). Margins come from the papers' effect sizes",
    "(each claim states its own). A claim with several comparisons leaves the untestable ones out; it holds if",
    "at least half hold and none fails, does not hold if at least half fail and none holds, is a tie if ties",
    "(and failures) make at least half, none holds and ties outnumber failures, and is inconclusive otherwise.",
    "With 3 to 5 seeds, 2 SE is a screening threshold, not a formal test. Power: each comparison states its",
    "seeds, the probability that they show a true effect of the margin as 'holds' (normal approximation with the",
    "observed SD of the per-seed differences, Phi(margin sqrt(n) / SD - 2)), and the seeds that would give 80%.",
    "Where a claim says so, an inconclusive comparison run with fewer seeds than that is reported as **below",
    "resolution**: the experiment could not tell its margin from noise, so it is no evidence either way.",
]


def write_summary(
    reports: Sequence[ClaimReport],
    out_dir: Path,
    *,
    command: str,
    budget: str,
    wall_seconds: float,
    runs: tuple[int, int, float] | None = None,
) -> dict[str, Path]:
    """``summary.md`` (one verdict line per claim, then every claim in full) and ``summary.json``.

    ``runs``: ``(trained now, reused, summed training seconds of every run used)``.
    """
    timing = f"Budget: `{budget}`; wall time of this invocation {wall_seconds / 60:.1f} min"
    if runs is not None:
        timing += (
            f" ({runs[0]} runs trained, {runs[1]} reused); training time summed over all {runs[0] + runs[1]} runs "
            f"{runs[2] / 60:.1f} min"
        )
    lines = [
        "# Reproduction study: summary",
        "",
        f"Command: `{command}`  ",
        timing + ".",
        "",
        "| claim | verdict | headroom | comparisons |",
        "|---|---|---|---|",
    ]
    from .stats import count_verdicts

    for r in reports:
        tally = count_verdicts([c["verdict"] for c in r.comparisons])
        lines.append(f"| {r.number}. {r.title} | **{r.verdict}** | {r.headroom or 'n/a'} | {tally} |")
    lines += ["", *RULE, ""]
    for r in reports:
        figure_dir = Path(r.key)
        lines += [claim_markdown(r, heading="##", figure_dir=figure_dir), ""]
    md = out_dir / "summary.md"
    md.write_text("\n".join(lines))
    js = out_dir / "summary.json"
    write_json(
        js,
        {
            "command": command,
            "budget": budget,
            "wall_seconds": wall_seconds,
            "claims": [
                {
                    "number": r.number,
                    "key": r.key,
                    "title": r.title,
                    "verdict": r.verdict,
                    "sub_verdicts": r.sub_verdicts,
                    "headroom": r.headroom,
                    "run_seconds": r.run_seconds,
                }
                for r in reports
            ],
        },
    )
    return {"summary_md": md, "summary_json": js}
