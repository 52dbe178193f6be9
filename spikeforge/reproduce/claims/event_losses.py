"""Claims 3 and 4 (Shen et al., docs/methods.md A.0 / A.3) on event data, from one 2x2 set of arms.

TET's MSE regulariser: the official heads of the IMP code (``TETClsHead``, ``TETLinearClsHead``, used by
e.g. ``cifar10dvs-48_t10_imp_tet-s.py``) have none, so TET and TET-S there run with lambda = 0: those are
the primary arms. The original TET code defaults to lambda = 1e-3: the same 2x2 arms at 1e-3 are a
secondary factor (sub-verdicts; in the budgets that list it in ``Budget.tet_lambdas``). The task must
leave room for a difference: ``event_hard`` is
``sim_event_digits`` with 400 of its 1437 training recordings and Poisson background noise
(0.05 events per pixel, polarity and frame), 16x16 frames, T = 8, and the network is the TET-style
VGG of the paper's 48x48 runs (TEBN, legacy LIF: decay 0.25, hard reset) narrowed to four units
(``narrow_vgg_legacy``). Arms: loss TET or TET-S (per-step CE with label smoothing 0.01) x IMP 0
or learnable IMP, the same seeds.

* Claim 3: TET-S matches or beats TET (non-inferiority on final accuracy, with and without IMP).
* Claim 4: IMP + TET-S beats plain TET (superiority on final accuracy).

Margin 0.5 pp. The paper's event-data ablation (Table 4, CIFAR10-DVS) was not available in any source
we could read (docs/methods.md A.0 / A.5: [NOT FOUND]; only the abstract's SOTA figures are), so the
margin does not come from it: it is the scale of a small event-data gain, stated as our choice. With a
per-seed SD of the differences near 0.9 pp, resolving 0.5 pp takes about 27 seeds (80% power), so an
inconclusive comparison with fewer seeds is reported as **below resolution** (``compare(resolve=True)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...analysis.sweep import Arm, ArmResult
from ..plots import COLORS, band, label_axes, new_figure, save
from ..report import ClaimReport, comparison_row
from ..stats import Comparison, combine, compare, summarize
from ..tasks import Budget
from .common import CHANCE, TET_LAMBDA, event_arm, final_accs, results_for, total_seconds

KEY_TETS = "claim3_tets_event"
KEY_IMP_TETS = "claim4_imp_tets_event"
TITLE_TETS = "TET-S matches or beats TET (event data)"
TITLE_IMP_TETS = "IMP + TET-S beats TET (event data)"
ARMS = (("tet", False), ("tet_s", False), ("tet", True), ("tet_s", True))
MARGIN = 0.005  # our choice: the paper's event-data ablation (Table 4) was not available


def _label(loss: str, imp: bool, lam: float = TET_LAMBDA) -> str:
    text = ("IMP + " if imp else "") + {"tet": "TET", "tet_s": "TET-S"}[loss]
    return text if lam == TET_LAMBDA else f"{text} (lambda {lam:g})"


def _arms(budget: Budget, loss: str, imp: bool, lam: float = TET_LAMBDA) -> list[Arm]:
    return [event_arm(loss, imp, s, budget, lam) for s in budget.seeds_for("event_hard")]


def _lambdas(budget: Budget) -> tuple[float, ...]:
    """lambda = 0 (the primary arms, always) and the budget's secondary values."""
    return (TET_LAMBDA, *(lam for lam in budget.tet_lambdas if lam != TET_LAMBDA))


def arms(budget: Budget) -> list[Arm]:
    """The 2x2 arms per lambda (both claims use all of them: the table shows the full factorial)."""
    return [a for lam in _lambdas(budget) for loss, imp in ARMS for a in _arms(budget, loss, imp, lam)]


def _compare(treat: list[float], base: list[float], **kw) -> Comparison:
    return compare(treat, base, margin=MARGIN, chance=CHANCE, paired=True, resolve=True, **kw)


def _setup(budget: Budget) -> str:
    tb = budget.tasks["event_hard"]
    return (
        "event_hard: sim_event_digits, 16x16 frames (split by event number), T=8, 400 training recordings (fixed "
        "subset), Poisson background noise 0.05 events / pixel / polarity / frame, 360 test recordings (noisy too). "
        "narrow_vgg_legacy: conv3x3(16, 32)-P-(64, 64)-P units with TEBN and the legacy LIF (decay 0.25, hard reset, "
        f"triangle surrogate), dropout 0.25, linear; AdamW lr 2e-3, cosine, {tb.epochs} epochs x "
        f"{tb.steps or 'all'} steps of batch 32, seeds {list(budget.seeds_for('event_hard'))}. "
        "TET = (1 - lambda) mean_t CE(O[t], y) + lambda mean_t MSE(O[t], 1); TET-S = the same with label smoothing "
        f"0.01. Primary arms: lambda = {TET_LAMBDA:g} (the official heads have no MSE term); secondary: lambda = "
        f"{', '.join(f'{v:g}' for v in _lambdas(budget)[1:]) or 'none in this budget'} (the original TET code's "
        "default). Readout: time mean. Metric: final test accuracy."
    )


Finals = dict[tuple[str, bool, float], list[float]]


def _table(results: Mapping[str, ArmResult], budget: Budget) -> tuple[list[dict], Finals]:
    rows, finals = [], {}
    for lam in _lambdas(budget):
        for loss, imp in ARMS:
            runs = results_for(results, _arms(budget, loss, imp, lam))
            finals[(loss, imp, lam)] = final_accs(runs)
            rows.append(
                {
                    "lam": f"{lam:g}",
                    "arm": _label(loss, imp),
                    "final": summarize(finals[(loss, imp, lam)]).fmt(100),
                    "best": summarize([r.best_acc for r in runs]).fmt(100),
                    "per_seed": " ".join(f"{100 * v:.1f}" for v in finals[(loss, imp, lam)]),
                }
            )
    return rows, finals


COLUMNS = [
    ("lam", "lambda"),
    ("arm", "arm"),
    ("final", "final acc (%)"),
    ("best", "best acc (%)"),
    ("per_seed", "per seed (%)"),
]


def _used(results: Mapping[str, ArmResult], budget: Budget) -> float:
    return total_seconds(
        [
            r
            for lam in _lambdas(budget)
            for loss, imp in ARMS
            for r in results_for(results, _arms(budget, loss, imp, lam))
        ]
    )


def analyze_tets(results: Mapping[str, ArmResult], budget: Budget, out_dir: Path) -> ClaimReport:
    """Claim 3: TET-S vs TET."""
    _, finals = _table(results, budget)
    comparisons, sub = [], {}
    verdict = ""
    for lam in _lambdas(budget):
        verdicts = []
        for imp in (False, True):
            cmp = _compare(finals[("tet_s", imp, lam)], finals[("tet", imp, lam)], kind="non_inferiority")
            verdicts.append(cmp.verdict)
            where = f"{_label('tet_s', imp, lam)} vs {_label('tet', imp, lam)}"
            comparisons.append(comparison_row(where, "final test acc (%)", cmp, 100))
        sup = _compare(finals[("tet_s", False, lam)], finals[("tet", False, lam)], ceiling=1.0)
        where = f"{_label('tet_s', False, lam)} vs {_label('tet', False, lam)} (does it beat it?)"
        comparisons.append(comparison_row(where, "final test acc (%)", sup, 100))
        if lam == TET_LAMBDA:
            verdict = combine(verdicts)
            sub[f"TET-S beats TET (superiority, no IMP, lambda {lam:g})"] = sup.verdict
        else:
            sub[f"lambda {lam:g}: TET-S matches or beats TET (secondary factor)"] = combine(verdicts)
    # Claims 3 and 4 fill the same ClaimReport fields with their own texts (as every claim does); what
    # they share beyond that (arms, table, figure, headroom) is in _report.
    return _report(
        results,
        budget,
        out_dir,
        key=KEY_TETS,
        number=3,
        title=TITLE_TETS,
        statement=(
            "TET with label smoothing (TET-S) resolves the conflict between TET's objective and its regulariser "
            "(Shen et al. 2024, abstract); it is used for their CIFAR10-DVS / N-Caltech101 results."
        ),
        rule=(
            f"Non-inferiority of TET-S vs TET on final accuracy at lambda = {TET_LAMBDA:g} (the official heads), "
            f"without and with IMP (holds if d - 2 SE > -{100 * MARGIN:g} pp; does not hold if d < "
            f"-{100 * MARGIN:g} pp and d + 2 SE < 0; inconclusive with fewer seeds than the margin needs: below "
            "resolution); combined as in claim 1. The margin is our choice: the paper's event-data ablation was not "
            "available. The superiority row (does TET-S beat TET?) and the lambda = 1e-3 arms are sub-verdicts."
        ),
        verdict=verdict,
        comparisons=comparisons,
        sub_verdicts=sub,
    )


def analyze_imp_tets(results: Mapping[str, ArmResult], budget: Budget, out_dir: Path) -> ClaimReport:
    """Claim 4: IMP + TET-S vs TET."""
    _, finals = _table(results, budget)
    comparisons, sub = [], {}
    verdict = ""
    for lam in _lambdas(budget):
        main = _compare(finals[("tet_s", True, lam)], finals[("tet", False, lam)], ceiling=1.0)
        imp_only = _compare(finals[("tet", True, lam)], finals[("tet", False, lam)], ceiling=1.0)
        comparisons += [
            comparison_row(
                f"{_label('tet_s', True, lam)} vs {_label('tet', False, lam)}", "final test acc (%)", main, 100
            ),
            comparison_row(
                f"{_label('tet', True, lam)} vs {_label('tet', False, lam)} (IMP alone)",
                "final test acc (%)",
                imp_only,
                100,
            ),
        ]
        if lam == TET_LAMBDA:
            verdict = main.verdict
            sub[f"IMP alone (IMP + TET vs TET, lambda {lam:g})"] = imp_only.verdict
        else:
            sub[f"lambda {lam:g}: IMP + TET-S beats TET (secondary factor)"] = main.verdict
    return _report(
        results,
        budget,
        out_dir,
        key=KEY_IMP_TETS,
        number=4,
        title=TITLE_IMP_TETS,
        statement=(
            "The paper's neuromorphic recipe, a learnable IMP with the TET-S loss, improves on the TET baseline "
            "(Shen et al. 2024: SOTA 87.80% on CIFAR10-DVS, 87.86% on N-Caltech101)."
        ),
        rule=(
            f"Superiority of IMP + TET-S over TET on final accuracy at lambda = {TET_LAMBDA:g} (holds if d - 2 SE > "
            f"0; does not hold if d + 2 SE < 0; inconclusive with fewer seeds than the {100 * MARGIN:g} pp margin "
            "needs: below resolution). The margin is our choice: the paper's event-data ablation was not available. "
            "The IMP-alone row and the lambda = 1e-3 arms are sub-verdicts."
        ),
        verdict=verdict,
        comparisons=comparisons,
        sub_verdicts=sub,
    )


def _report(results: Mapping[str, ArmResult], budget: Budget, out_dir: Path, **claim: Any) -> ClaimReport:
    """A :class:`ClaimReport` of claim 3 or 4: both use the same four arms, table, figure and headroom;
    ``claim`` gives the rest (key, number, title, statement, rule, verdict, comparisons, sub-verdicts)."""
    rows, finals = _table(results, budget)
    return ClaimReport(
        setup=_setup(budget),
        columns=COLUMNS,
        rows=rows,
        figures=[_plot(results, budget, out_dir / "event_losses.png")],
        run_seconds=_used(results, budget),
        headroom=_headroom(finals),
        figure_caption=CAPTION,
        **claim,
    )


CAPTION = (
    f"test accuracy per epoch of the four lambda = {TET_LAMBDA:g} arms (mean ± std) and the final accuracies of "
    "every arm (dots: seeds)."
)


def _headroom(finals: Finals) -> str:
    b = summarize(finals[("tet", False, TET_LAMBDA)])
    return (
        f"TET baseline (lambda {TET_LAMBDA:g}) at {100 * b.mean:.1f}% ({100 * (1 - b.mean):.1f} pp below 100%, "
        "chance 10%)"
    )


def _plot(results: Mapping[str, ArmResult], budget: Budget, path: Path) -> Path:
    fig, axes = new_figure(1, 2)
    ax = axes[0, 0]
    for i, (loss, imp) in enumerate(ARMS):
        runs = results_for(results, _arms(budget, loss, imp))
        band(ax, [r.curve() for r in runs], scale=100, color=COLORS[i], label=_label(loss, imp))
    steps = budget.tasks["event_hard"].steps
    xlabel = f"epoch ({steps} steps each)" if steps else "epoch"
    title = "event_hard: test acc. (mean ± std)"
    label_axes(ax, xlabel, "test accuracy (%)", title, legend_loc="lower right", legend_size=8)
    ax = axes[0, 1]
    lowest = 100.0
    every = [(loss, imp, lam) for lam in _lambdas(budget) for loss, imp in ARMS]
    for x, (loss, imp, lam) in enumerate(every):
        vals = 100 * np.asarray(final_accs(results_for(results, _arms(budget, loss, imp, lam))))
        std = vals.std(ddof=1) if len(vals) > 1 else 0.0
        ax.errorbar(x, vals.mean(), yerr=std, marker="o", markersize=8, capsize=5, color=COLORS[x % len(ARMS)])
        ax.scatter(np.full(len(vals), x + 0.15), vals, color="black", s=10, zorder=3)
        lowest = min(lowest, float(np.nanmin(vals)))
    # zoomed in: the arms differ by tenths of a point, which a bar from 0 would hide
    ax.set_ylim(bottom=max(0.0, lowest - 3.0))
    ax.set_xlim(-0.5, len(every) - 0.5)
    ax.set_xticks(range(len(every)), [_label(loss, imp, lam) for loss, imp, lam in every], fontsize=7, rotation=30)
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title("final accuracy, mean ± std (dots: seeds)", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return save(fig, path)
