"""Run the reproduction study: the selected claims' arms, then each claim's analysis and the summary.

Output folder layout::

    OUT/runs/<arm>-<hash>/        one engine run per arm and seed (result.json marks it finished)
    OUT/claim<N>_<name>/          table.csv|json|md, comparisons.csv|md, the claim's PNGs
    OUT/summary.md, summary.json  one verdict per claim, then every claim in full
    OUT/study.json                budget, claims, wall time, runs trained vs reused
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..analysis.jsonio import write_json
from ..analysis.sweep import run_arms
from ..errors import UserError
from .claims import CLAIMS
from .report import ClaimReport, write_claim, write_summary
from .tasks import BUDGETS, Budget

__all__ = ["run_study"]


def run_study(
    out_dir: str | Path,
    *,
    budget: Budget | str = "quick",
    claims: Sequence[int] = tuple(CLAIMS),
    jobs: int | None = None,
    threads: int | None = None,
    command: str | None = None,
    log: Callable[[str], None] | None = print,
) -> list[ClaimReport]:
    """Train what the claims need (skipping finished runs), analyse, and write every output.

    Args:
        out_dir: the study folder (created; an existing one is continued).
        budget: a :class:`Budget` or the name of one in :data:`BUDGETS` (``quick`` / ``full``).
        claims: claim numbers to run (1-6).
        jobs: runs trained in parallel (separate processes); default ``min(2, CPU count)``: the
            study's small nets use one core each better than two cores together.
        threads: PyTorch threads per run (default: CPU count / jobs).
        command: the command line recorded in the summary (default: ``sys.argv``).
        log: progress lines (``None``: silent).
    Returns:
        The claim reports, in claim order.
    """
    t0 = time.time()
    if jobs is None:
        jobs = min(2, os.cpu_count() or 1)
    if isinstance(budget, str):
        if budget not in BUDGETS:
            raise UserError(f"unknown budget {budget!r}; choose one of {sorted(BUDGETS)}")
        budget = BUDGETS[budget]
    unknown = sorted(set(claims) - set(CLAIMS))
    if unknown:
        raise UserError(f"unknown claim(s) {unknown}; choose from {sorted(CLAIMS)}")
    selected = [CLAIMS[n] for n in sorted(set(claims))]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # the longest runs first (claim 5's, then the event runs), so that the parallel workers finish together
    order = {5: 0, 3: 1, 4: 1}
    arms = [a for c in sorted(selected, key=lambda c: order.get(c.number, 2)) for a in c.arms(budget)]
    if log is not None:
        log(f"[reproduce] budget {budget.name}, seeds {list(budget.seeds)}, claims {[c.number for c in selected]}")
        log(f"[reproduce] {len(arms)} arm-seeds ({len({a.name for a in arms})} distinct runs) under {out / 'runs'}")
    results = run_arms(arms, out / "runs", jobs=jobs, threads=threads, log=_prefixed(log))
    t_train = time.time() - t0
    reports = []
    for claim in selected:
        claim_dir = out / claim.key
        report = claim.analyze(results, budget, claim_dir)
        write_claim(report, claim_dir)
        reports.append(report)
        if log is not None:
            log(f"[reproduce] claim {claim.number} ({claim.title}): {report.verdict}")
    wall = time.time() - t0
    cmd = command or " ".join(shlex.quote(a) for a in ["spikeforge", *sys.argv[1:]])
    trained = [r for r in results.values() if not r.reused]
    all_seconds = sum(r.seconds for r in results.values() if r.seconds == r.seconds)  # NaN-safe
    write_summary(
        reports,
        out,
        command=cmd,
        budget=budget.name,
        wall_seconds=wall,
        runs=(len(trained), len(results) - len(trained), all_seconds),
    )
    write_json(
        out / "study.json",
        {
            "command": cmd,
            "budget": budget.name,
            "seeds": list(budget.seeds),
            "claims": [c.number for c in selected],
            "jobs": jobs,
            "threads": threads,
            "wall_seconds": wall,
            "training_wall_seconds": t_train,
            "runs_total": len(results),
            "runs_trained": len(trained),
            "runs_reused": len(results) - len(trained),
            "run_seconds_trained": sum(r.seconds for r in trained),
            "run_seconds_all": all_seconds,
        },
    )
    if log is not None:
        log(f"[reproduce] done in {wall / 60:.1f} min; summary: {out / 'summary.md'}")
    return reports


def _prefixed(log: Callable[[str], None] | None) -> Callable[[str], None] | None:
    if log is None:
        return None
    return lambda line: log(f"[reproduce] {line}")
