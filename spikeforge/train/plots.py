"""Loss and accuracy curves of a run (PNG, matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import records as R

__all__ = ["plot_curves", "plot_step_accuracy"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(records: list[dict[str, Any]], out_png: str | Path) -> None:
    """Two panels: loss and accuracy (%) per epoch, train and test."""
    if not records:
        return
    plt = _pyplot()
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 3.8))
    for split, style in (("train", "-"), ("test", "--")):
        loss, acc = (R.TRAIN_LOSS, R.TRAIN_ACC) if split == "train" else (R.TEST_LOSS, R.TEST_ACC)
        pts = [(r[R.EPOCH], r[loss]) for r in records if loss in r]
        if pts:
            ax_l.plot(*zip(*pts, strict=True), style, marker="o", ms=3, label=split)
        pts = [(r[R.EPOCH], 100 * r[acc]) for r in records if acc in r]
        if pts:
            ax_a.plot(*zip(*pts, strict=True), style, marker="o", ms=3, label=split)
    ax_l.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_a.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_l, ax_a):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def plot_step_accuracy(acc_step: list[float], acc_cum: list[float], out_png: str | Path, title: str = "") -> None:
    """Accuracy read out at each time step alone and as the running mean up to that step."""
    plt = _pyplot()
    steps = list(range(1, len(acc_step) + 1))
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(steps, [100 * a for a in acc_step], marker="o", label="step t alone")
    ax.plot(steps, [100 * a for a in acc_cum], marker="s", label="mean of steps 1..t")
    ax.set(xlabel="time step t", ylabel="test accuracy (%)", title=title or "accuracy per time step")
    ax.set_xticks(steps)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
