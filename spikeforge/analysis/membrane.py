"""Membrane potential and spikes vs initial membrane potential and input intensity (Shen et al. Fig 1).

A single neuron type (IF, LIF or CUBA, built by :func:`spikeforge.neuron.factory.build_neuron`
and run through its own ``forward``, so any backend can be checked) receives a constant
input current ``x[t] = c`` for ``T`` steps starting from ``V[-1] = IMP``. For every
``(IMP, c)`` of a grid we keep the spike train and the membrane trace ``V[t]`` (after
reset, as the neuron records it), and summarise them as the first-spike step, the spike
count and the final potential.

Figure 1 of the paper contrasts two ways of changing the firing pattern: (a) the IMP
varies (``k/12``, ``k = 0..6``) at a constant input ``1/12``; (b) the input varies
(``1/12 .. 1/6``, slightly reduced so the threshold is not hit exactly) at IMP 0. Both
over ``T = 32`` steps of an IF neuron with soft reset, following the official
``plot_pattern.py``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserError
from ..neuron.factory import build_neuron
from .plots import heatmap, new_figure, save_figure

__all__ = ["FIG1_IMPS", "FIG1_INTENSITIES", "first_spike_times", "run_membrane", "simulate"]

FIG1_IMPS = tuple(k / 12 for k in range(7))
FIG1_INTENSITIES = tuple(1 / k - 1e-7 for k in range(12, 5, -1))  # 1/12 .. 1/6, just below exact hits
SPIKE_COLOUR = "#ffd700"


@torch.no_grad()
def simulate(
    imps: Sequence[float] | torch.Tensor,
    intensities: Sequence[float] | torch.Tensor,
    T: int = 32,
    neuron: dict[str, Any] | None = None,
) -> dict[str, torch.Tensor]:
    """Run one neuron per ``(IMP, intensity)`` pair on a constant input for ``T`` steps.

    Args:
        imps: ``[I]`` initial membrane potentials.
        intensities: ``[J]`` constant input currents.
        T: time steps.
        neuron: a ``neuron:`` mapping for ``build_neuron`` (default ``{"type": "if",
            "v_reset": None}``: IF with soft reset, threshold 1). ``imp`` must not be set.
    Returns:
        ``{"imps": [I], "intensities": [J], "spikes": [I, J, T], "v": [I, J, T]}`` (float64);
        ``v`` is the potential after the step's reset.
    """
    cfg = dict(neuron or {"type": "if", "v_reset": None})
    if "imp" in cfg:
        raise UserError("simulate(): the IMP comes from the grid; remove 'imp' from the neuron config")
    imps = torch.as_tensor(imps, dtype=torch.float64).flatten()
    intensities = torch.as_tensor(intensities, dtype=torch.float64).flatten()
    n_i, n_j = imps.numel(), intensities.numel()
    # One neuron per pair: a per-neuron IMP parameter holds the IMP grid, the input the intensities.
    node = build_neuron(cfg, imp="learn", imp_init=0.0, feature_shape=(n_i * n_j,), record_v=True).double()
    node.imp.copy_(imps.repeat_interleave(n_j))
    x = intensities.repeat(n_i).expand(T, 1, n_i * n_j)
    spikes = node(x)[:, 0].T.reshape(n_i, n_j, T)
    v = node.v_seq[:, 0].T.reshape(n_i, n_j, T)
    return {"imps": imps, "intensities": intensities, "spikes": spikes, "v": v}


def first_spike_times(spikes: torch.Tensor) -> torch.Tensor:
    """``[..., T]`` spike trains -> ``[...]`` index of the first spike (float; NaN when none)."""
    T = spikes.shape[-1]
    fired = spikes > 0
    idx = torch.where(fired, torch.arange(T, device=spikes.device), T).amin(-1).double()
    return torch.where(fired.any(-1), idx, torch.nan)


def _raster(fig: Any, ax: Any, v: np.ndarray, s: np.ndarray, row_values: Sequence[float], row_label: str, title: str):
    """Membrane heatmap (rows = neurons, columns = steps) with spike cells painted yellow."""
    import matplotlib

    heatmap(
        fig,
        ax,
        v,
        y_values=list(row_values),
        x_label="time step",
        y_label=row_label,
        title=title,
        cbar_label="V (after reset)",
        cmap="Blues",
        max_ticks=len(row_values),
    )
    spike_cmap = matplotlib.colors.ListedColormap([SPIKE_COLOUR])
    ax.imshow(np.ma.masked_where(s == 0, s), origin="lower", aspect="auto", cmap=spike_cmap, interpolation="nearest")


def run_membrane(
    out_dir: str | Path,
    *,
    T: int = 32,
    neuron: dict[str, Any] | None = None,
    imps: Sequence[float] | torch.Tensor | None = None,
    intensities: Sequence[float] | torch.Tensor | None = None,
    fig1_imps: Sequence[float] = FIG1_IMPS,
    fig1_intensity: float = 1 / 12,
    fig1_intensities: Sequence[float] = FIG1_INTENSITIES,
    fig1_imp: float = 0.0,
    trace_examples: int = 4,
) -> dict[str, Any]:
    """Grid and Figure-1 simulations; writes PNGs, CSVs and a JSON summary into ``out_dir``.

    Args:
        out_dir: output folder (created).
        T: time steps.
        neuron: ``build_neuron`` mapping (default IF, soft reset, threshold 1).
        imps, intensities: the summary grid (default ``linspace(-1, 1, 41)`` x ``linspace(0, 0.5, 51)``).
        fig1_imps, fig1_intensity: Fig 1a, IMPs at one constant input.
        fig1_intensities, fig1_imp: Fig 1b, inputs at one IMP.
        trace_examples: how many rows of each Fig-1 panel to draw as traces.
    Files:
        ``membrane_fig1.png`` (the two raster panels), ``membrane_summary.png`` (first-spike
        step, spike count, final V vs IMP and intensity), ``membrane_traces.png``,
        ``membrane_grid.csv`` (one row per pair: summary, spike train, trace),
        ``membrane_fig1.csv`` (long format), ``membrane.json``.
    Returns:
        The JSON summary (parameters, grid ranges, spike-count range, file paths).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = dict(neuron or {"type": "if", "v_reset": None})
    imps = torch.linspace(-1, 1, 41, dtype=torch.float64) if imps is None else imps
    intensities = torch.linspace(0, 0.5, 51, dtype=torch.float64) if intensities is None else intensities
    grid = simulate(imps, intensities, T, cfg)
    first = first_spike_times(grid["spikes"])
    count = grid["spikes"].sum(-1)
    final_v = grid["v"][..., -1]
    fig_a = simulate(fig1_imps, [fig1_intensity], T, cfg)
    fig_b = simulate([fig1_imp], fig1_intensities, T, cfg)
    name = cfg.get("type", "lif").upper()

    # Summary heatmaps.
    x_vals, y_vals = grid["intensities"].tolist(), grid["imps"].tolist()
    fig, axes = new_figure(1, 3, size=(14.0, 4.0))
    for ax, data, what, cmap in (
        (axes[0, 0], first, "first spike step", "viridis_r"),
        (axes[0, 1], count, "spike count", "viridis"),
        (axes[0, 2], final_v, "final V", "coolwarm"),
    ):
        heatmap(
            fig,
            ax,
            data.numpy(),
            x_values=x_vals,
            y_values=y_vals,
            x_label="input intensity",
            y_label="IMP",
            title=f"{what} ({name}, T={T})",
            cbar_label=what,
            cmap=cmap,
        )
    axes[0, 0].text(0.98, 0.02, "grey: no spike", transform=axes[0, 0].transAxes, ha="right", fontsize=7)
    save_figure(fig, out_dir / "membrane_summary.png")

    # Figure-1 rasters.
    fig, axes = new_figure(2, 1, size=(9.0, 6.0))
    _raster(
        fig,
        axes[0, 0],
        fig_a["v"][:, 0].numpy(),
        fig_a["spikes"][:, 0].numpy(),
        fig_a["imps"].tolist(),
        "IMP",
        f"(a) adjusting the IMP, input {fig1_intensity:.4g}",
    )
    _raster(
        fig,
        axes[1, 0],
        fig_b["v"][0].numpy(),
        fig_b["spikes"][0].numpy(),
        fig_b["intensities"].tolist(),
        "input intensity",
        f"(b) adjusting the input, IMP {fig1_imp:g}",
    )
    fig.suptitle(f"{name} membrane potential, spikes in yellow")
    save_figure(fig, out_dir / "membrane_fig1.png")

    # A few traces from each panel.
    fig, axes = new_figure(1, 2, size=(11.0, 4.3), sharey=True)
    theta = build_neuron(cfg).threshold_value  # the fixed threshold, or a learnable one's initial value
    for ax, v, s, values, what in (
        (axes[0, 0], fig_a["v"][:, 0], fig_a["spikes"][:, 0], fig_a["imps"], "IMP"),
        (axes[0, 1], fig_b["v"][0], fig_b["spikes"][0], fig_b["intensities"], "input"),
    ):
        rows = np.unique(np.linspace(0, len(values) - 1, min(trace_examples, len(values))).round().astype(int))
        for r in rows:
            (line,) = ax.plot(
                range(T), v[r].numpy(), "-o", label=f"{what} {values[r].item():.3g}", linewidth=1.0, markersize=2
            )
            t_spk = torch.nonzero(s[r]).flatten().numpy()
            ax.plot(t_spk, np.full(len(t_spk), theta), "v", color=line.get_color(), markersize=5)
        ax.axhline(theta, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel("time step")
        ax.set_title(f"V after each step's reset, varying {what} (triangles: spikes)")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=len(rows))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("V (after reset)")
    save_figure(fig, out_dir / "membrane_traces.png")

    # Tables.
    with open(out_dir / "membrane_grid.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["imp", "intensity", "first_spike", "spike_count", "final_v", "spikes"] + [f"v{t}" for t in range(T)]
        )
        for i, imp in enumerate(y_vals):
            for j, c in enumerate(x_vals):
                fs = first[i, j].item()
                train = "".join(str(int(b)) for b in grid["spikes"][i, j].tolist())
                w.writerow(
                    [
                        f"{imp:.6g}",
                        f"{c:.6g}",
                        "" if fs != fs else int(fs),
                        int(count[i, j]),
                        f"{final_v[i, j].item():.6g}",
                        train,
                    ]
                    + [f"{b:.6g}" for b in grid["v"][i, j].tolist()]
                )
    with open(out_dir / "membrane_fig1.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["panel", "imp", "intensity", "t", "v", "spike"])
        for panel, res in (("a", fig_a), ("b", fig_b)):
            for i, imp in enumerate(res["imps"].tolist()):
                for j, c in enumerate(res["intensities"].tolist()):
                    for t in range(T):
                        w.writerow(
                            [
                                panel,
                                f"{imp:.6g}",
                                f"{c:.8g}",
                                t,
                                f"{res['v'][i, j, t].item():.6g}",
                                int(res["spikes"][i, j, t]),
                            ]
                        )

    summary = {
        "neuron": cfg,
        "T": T,
        "imp_range": [min(y_vals), max(y_vals), len(y_vals)],
        "intensity_range": [min(x_vals), max(x_vals), len(x_vals)],
        "spike_count_range": [int(count.min()), int(count.max())],
        "silent_fraction": float(first.isnan().double().mean()),
        "fig1_imps": fig_a["imps"].tolist(),
        "fig1_intensity": fig1_intensity,
        "fig1_first_spike_vs_imp": [
            None if v != v else int(v) for v in first_spike_times(fig_a["spikes"][:, 0]).tolist()
        ],
        "fig1_intensities": fig_b["intensities"].tolist(),
        "fig1_imp": fig1_imp,
        "fig1_first_spike_vs_intensity": [
            None if v != v else int(v) for v in first_spike_times(fig_b["spikes"][0]).tolist()
        ],
        "files": [
            str(out_dir / n)
            for n in (
                "membrane_fig1.png",
                "membrane_summary.png",
                "membrane_traces.png",
                "membrane_grid.csv",
                "membrane_fig1.csv",
                "membrane.json",
            )
        ],
    }
    (out_dir / "membrane.json").write_text(json.dumps(summary, indent=1))
    return summary
