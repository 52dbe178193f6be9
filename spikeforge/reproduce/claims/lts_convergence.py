"""Claim 2 (Shen et al., docs/methods.md A.0): LTS converges faster than SDT and TET on static data.

Arms: ``digits`` and ``mnist1d``, T = 4, IMP 0 (the ImageNet LTS runs use no IMP), losses
SDT, TET and LTS, same budget and seeds. Each loss is read out its own way (time mean for
SDT/TET, last step for LTS), as at test time in the official code.

Convergence speed: the target of a task is 95% of the best final accuracy, i.e. of the
highest seed-mean final test accuracy over the three losses. Each run's epochs-to-target is
its first epoch at or above the target; a run that never reaches it counts as ``epochs + 1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..plots import COLORS, band, new_figure, save
from ..report import ClaimReport, comparison_row
from ..runner import Arm, ArmResult
from ..stats import combine, compare, epochs_to_target, summarize
from ..tasks import Budget
from .common import CHANCE, final_accs, results_for, static_arm, total_seconds

NUMBER = 2
KEY = "claim2_lts_convergence"
TITLE = "LTS converges faster than SDT and TET (static data)"
TASKS = ("digits", "mnist1d")
LOSSES = ("sdt", "tet", "lts")
LABELS = {"sdt": "SDT", "tet": "TET", "lts": "LTS"}
T = 4
FRACTION = 0.95
EPOCH_MARGIN = 1.0  # one evaluation epoch
ACC_MARGIN = 0.01


def _arms(budget: Budget, task: str, loss: str) -> list[Arm]:
    return [static_arm(task, loss, T, False, s, budget) for s in budget.seeds]


def arms(budget: Budget) -> list[Arm]:
    """Every run the claim needs."""
    return [a for task in TASKS for loss in LOSSES for a in _arms(budget, task, loss)]


def analyze(results: Mapping[str, ArmResult], budget: Budget, out_dir: Path) -> ClaimReport:
    """Table, comparisons, verdict and figure from the finished runs."""
    rows, comparisons, speed, accuracy, used = [], [], [], [], []
    curves: dict[tuple[str, str], list[list[float]]] = {}
    for task in TASKS:
        epochs = budget.tasks[task].epochs
        runs = {loss: results_for(results, _arms(budget, task, loss)) for loss in LOSSES}
        used += [r for rs in runs.values() for r in rs]
        finals = {loss: final_accs(rs) for loss, rs in runs.items()}
        target = FRACTION * max(summarize(v).mean for v in finals.values())
        reach = {
            loss: [epochs_to_target(r.curve(), target, censor=epochs + 1) for r in rs] for loss, rs in runs.items()
        }
        for loss in LOSSES:
            curves[(task, loss)] = [r.curve() for r in runs[loss]]
            never = sum(e == epochs + 1 for e in reach[loss])
            rows.append(
                {
                    "task": task,
                    "loss": LABELS[loss],
                    "final": summarize(finals[loss]).fmt(100),
                    "best": summarize([r.best_acc for r in runs[loss]]).fmt(100),
                    "target": f"{100 * target:.2f}",
                    "epochs_to_target": summarize(reach[loss]).fmt(1, 2),
                    "per_seed": " ".join(str(e) if e <= epochs else f">{epochs}" for e in reach[loss]),
                    "never": never,
                }
            )
        for other in ("sdt", "tet"):
            cmp = compare(reach["lts"], reach[other], higher_is_better=False, margin=EPOCH_MARGIN, paired=True)
            speed.append(cmp.verdict)
            comparisons.append(comparison_row(f"{task}: LTS vs {LABELS[other]}", "epochs to 95% target", cmp))
        for other in ("sdt", "tet"):
            cmp = compare(
                finals["lts"], finals[other], margin=ACC_MARGIN, kind="non_inferiority", chance=CHANCE, paired=True
            )
            accuracy.append(cmp.verdict)
            comparisons.append(comparison_row(f"{task}: LTS vs {LABELS[other]}", "final test acc (%)", cmp, 100))
    fig = _plot(curves, results, budget, out_dir / "lts_convergence.png")
    tb = {t: budget.tasks[t] for t in TASKS}
    return ClaimReport(
        key=KEY,
        number=NUMBER,
        title=TITLE,
        statement="The last-time-step loss (LTS) speeds up convergence on static tasks (Shen et al. 2024, abstract).",
        setup=(
            f"T={T}, IF neurons (soft reset, ATan), IMP 0, losses SDT / TET / LTS, seeds {list(budget.seeds)}. "
            f"digits: digits_convnet, {tb['digits'].epochs} epochs x {tb['digits'].steps or 'all'} steps; mnist1d: "
            f"dense IF 40-256-256-10, {tb['mnist1d'].epochs} epochs x {tb['mnist1d'].steps or 'all'} steps (an "
            "'epoch' is one evaluation interval of that many optimiser steps). Target = 95% of the highest "
            "seed-mean final accuracy among the three losses of a task; never reached counts as epochs + 1."
        ),
        rule=(
            "Speed (the claim): LTS vs SDT and LTS vs TET on epochs to target, per task, superiority with a margin "
            f"of {EPOCH_MARGIN:g} epoch; combined as in claim 1. Final accuracy is checked separately (LTS not worse "
            f"than the baseline by more than {100 * ACC_MARGIN:g} pp: non-inferiority)."
        ),
        verdict=combine(speed),
        columns=[
            ("task", "task"),
            ("loss", "loss"),
            ("final", "final acc (%)"),
            ("best", "best acc (%)"),
            ("target", "target (%)"),
            ("epochs_to_target", "epochs to target"),
            ("per_seed", "per seed"),
            ("never", "never reached"),
        ],
        rows=rows,
        comparisons=comparisons,
        sub_verdicts={
            "faster convergence (epochs to target)": combine(speed),
            "final accuracy not worse": combine(accuracy),
        },
        figures=[fig],
        run_seconds=total_seconds(used),
    )


def _plot(curves, results, budget: Budget, path: Path) -> Path:
    fig, axes = new_figure(1, len(TASKS))
    for col, task in enumerate(TASKS):
        ax = axes[0, col]
        best = 0.0
        for i, loss in enumerate(LOSSES):
            band(ax, curves[(task, loss)], scale=100, color=COLORS[i], label=LABELS[loss])
            best = max(best, summarize(final_accs(results_for(results, _arms(budget, task, loss)))).mean)
        ax.axhline(100 * FRACTION * best, color="grey", linestyle="--", linewidth=1, label="95% target")
        steps = budget.tasks[task].steps
        ax.set_xlabel(f"epoch ({steps} steps each)" if steps else "epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{task}, T={T} (mean ± std)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    return save(fig, path)
