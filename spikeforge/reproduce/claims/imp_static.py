"""Claim 1 (Shen et al., docs/methods.md A.0): a learnable IMP improves accuracy at small T on static data.

Arms: ``digits`` and ``mnist1d`` (static 40-vector, the harder task), T in {1, 2, 4}, IMP 0 vs
learnable IMP, SDT loss (the neutral loss: the claim is about the neuron, not the objective),
same budget and seeds. One superiority comparison of the final test accuracy per (task, T).
The figure also shows the accuracy of each time step alone at the largest T (the paper's
Fig 4 argument: accuracy per step rises as the membrane potential moves away from 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..plots import COLORS, new_figure, save
from ..report import ClaimReport, comparison_row
from ..runner import Arm, ArmResult
from ..stats import combine, compare, summarize
from ..tasks import Budget
from .common import CHANCE, final_accs, results_for, static_arm, total_seconds

NUMBER = 1
KEY = "claim1_imp_static"
TITLE = "Learnable IMP improves accuracy at small T (static data)"
TASKS = ("digits", "mnist1d")
STEPS = (1, 2, 4)
LOSS = "sdt"
MARGIN = 0.01  # one percentage point


def _arms(budget: Budget, task: str, T: int, learn: bool) -> list[Arm]:
    return [static_arm(task, LOSS, T, learn, s, budget) for s in budget.seeds]


def arms(budget: Budget) -> list[Arm]:
    """Every run the claim needs."""
    return [a for task in TASKS for T in STEPS for learn in (False, True) for a in _arms(budget, task, T, learn)]


def analyze(results: Mapping[str, ArmResult], budget: Budget, out_dir: Path) -> ClaimReport:
    """Table, comparisons, verdict and figure from the finished runs."""
    rows, comparisons, verdicts, used = [], [], [], []
    per_step: dict[tuple[str, bool], list[list[float]]] = {}
    for task in TASKS:
        for T in STEPS:
            base = results_for(results, _arms(budget, task, T, False))
            treat = results_for(results, _arms(budget, task, T, True))
            used += base + treat
            cmp = compare(final_accs(treat), final_accs(base), margin=MARGIN, chance=CHANCE, paired=True)
            verdicts.append(cmp.verdict)
            comparisons.append(comparison_row(f"{task}, T={T}: learnable IMP vs IMP=0", "final test acc (%)", cmp, 100))
            rows.append(
                {
                    "task": task,
                    "T": T,
                    "imp0": summarize(final_accs(base)).fmt(100),
                    "imp_learn": summarize(final_accs(treat)).fmt(100),
                    "diff": f"{100 * cmp.diff:+.2f}",
                    "verdict": cmp.verdict,
                }
            )
            if T == max(STEPS):
                per_step[(task, False)] = [r.acc_per_step for r in base]
                per_step[(task, True)] = [r.acc_per_step for r in treat]
    verdict = combine(verdicts)
    fig_path = _plot(per_step, results, budget, out_dir / "imp_static.png")
    tb = {t: budget.tasks[t] for t in TASKS}
    setup = (
        f"SDT loss, IF neurons (soft reset, ATan), IMP 0 vs learnable IMP (per neuron, init U(-0.2, 0.2), no weight "
        f"decay), T in {list(STEPS)}, seeds {list(budget.seeds)}. digits: digits_convnet, "
        f"{tb['digits'].epochs} epochs x {tb['digits'].steps or 'all'} steps. mnist1d: MNIST-1D as a static "
        f"40-vector, dense IF 40-256-256-10 with a linear readout, {tb['mnist1d'].epochs} epochs x "
        f"{tb['mnist1d'].steps or 'all'} steps. Metric: final test accuracy (last epoch, no selection)."
    )
    notes = _notes(per_step)
    return ClaimReport(
        key=KEY,
        number=NUMBER,
        title=TITLE,
        statement=(
            "Making the initial membrane potential learnable gives higher accuracy within few time steps on static "
            "tasks (Shen et al. 2024, abstract)."
        ),
        setup=setup,
        rule=(
            "Per (task, T): superiority of learnable IMP over IMP=0 on final accuracy (holds if d - 2 SE > 0; "
            f"does not hold if d + 2 SE < {100 * MARGIN:g} pp). Claim: holds if at least half of the "
            "comparisons hold and none fails; does not hold if at least half fail and none holds; else inconclusive."
        ),
        verdict=verdict,
        columns=[
            ("task", "task"),
            ("T", "T"),
            ("imp0", "IMP = 0: acc (%)"),
            ("imp_learn", "learnable IMP: acc (%)"),
            ("diff", "d (pp)"),
            ("verdict", "verdict"),
        ],
        rows=rows,
        comparisons=comparisons,
        figures=[fig_path],
        notes=notes,
        run_seconds=total_seconds(used),
    )


def _notes(per_step: Mapping[tuple[str, bool], list[list[float]]]) -> list[str]:
    """Per-step accuracies at the largest T, as numbers (the Fig 4 view)."""
    notes = []
    for task in TASKS:
        for learn in (False, True):
            runs = [r for r in per_step.get((task, learn), []) if r]
            if not runs:
                continue
            mean = 100 * np.mean(np.asarray(runs, dtype=float), axis=0)
            label = "learnable IMP" if learn else "IMP = 0"
            steps = ", ".join(f"{v:.1f}" for v in mean)
            notes.append(f"{task}, T={max(STEPS)}, {label}: accuracy of each step alone (%, seed mean) = [{steps}]")
    return notes


def _plot(per_step, results, budget: Budget, path: Path) -> Path:
    fig, axes = new_figure(2, len(TASKS))
    for col, task in enumerate(TASKS):
        ax = axes[0, col]
        for i, learn in enumerate((False, True)):
            means, stds = [], []
            for T in STEPS:
                s = summarize(final_accs(results_for(results, _arms(budget, task, T, learn))))
                means.append(100 * s.mean)
                stds.append(100 * s.std if np.isfinite(s.std) else 0.0)
            x = np.asarray(STEPS) + (0.06 if learn else -0.06)
            ax.errorbar(x, means, yerr=stds, marker="o", capsize=3, color=COLORS[i], label=_label(learn))
        ax.set_xticks(STEPS)
        ax.set_xlabel("time steps T")
        ax.set_ylabel("final test accuracy (%)")
        ax.set_title(f"{task}: accuracy vs T (mean ± std)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        ax = axes[1, col]
        for i, learn in enumerate((False, True)):
            runs = [r for r in per_step.get((task, learn), []) if r]
            if not runs:
                continue
            arr = 100 * np.asarray(runs, dtype=float)
            t = np.arange(1, arr.shape[1] + 1)
            std = arr.std(axis=0, ddof=1) if len(arr) > 1 else np.zeros(arr.shape[1])
            ax.errorbar(t, arr.mean(axis=0), yerr=std, marker="s", capsize=3, color=COLORS[i], label=_label(learn))
        ax.set_xticks(range(1, max(STEPS) + 1))
        ax.set_xlabel("time step t (readout of step t alone)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{task}, T={max(STEPS)}: accuracy per step")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    return save(fig, path)


def _label(learn: bool) -> str:
    return "learnable IMP" if learn else "IMP = 0"
