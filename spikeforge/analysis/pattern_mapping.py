"""Pattern mapping of an IF neuron (Shen et al. Fig 3; docs/methods.md A.7).

An IF neuron with soft reset and threshold 1 runs ``T = 4`` steps on every binary input
pattern ``p in {0,1}^T`` scaled by a weight ``w`` (``x[t] = w * p[t]``), starting from the
initial membrane potential ``V[-1] = IMP``. Its output spike train is another pattern.
``matrix[out, in] = 1`` when some ``(IMP, w)`` of the grid maps input pattern ``in`` to output
pattern ``out``; the number of ones is the number of reachable mappings. Pattern ``i`` is
the ``T``-bit binary of ``i`` with the most significant bit at ``t = 0``.

The dynamics are spikeforge's own (:func:`spikeforge.neuron.reference.multistep` with the
:class:`~spikeforge.neuron.IFNode` dynamics); a spike fires at ``H >= threshold``, as in
SpikingJelly. With the official scripts' grids this gives 54 mappings at IMP = 0
(``w`` in ``linspace(0, 1, 17)``) and 108 with IMP in ``linspace(-1, 1, 9)`` x ``w`` in
``linspace(0, 1, 9)``; with a strict ``H > threshold`` it would be 39 and 80.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..neuron import IFNode
from ..neuron.nodes import BaseNode
from ..neuron.reference import multistep
from .plots import new_figure, save_figure

__all__ = [
    "imps_from_model",
    "imps_from_state_dict",
    "input_patterns",
    "mapping_matrix",
    "pattern_grid",
    "pattern_indices",
    "plot_mappings",
    "run_pattern_mapping",
]

_CHUNK = 1 << 20  # neurons simulated per call; bounds memory for large sets of learned IMPs


def input_patterns(T: int = 4, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """All ``2**T`` binary patterns, ``[2**T, T]``; row ``i`` is ``i`` in binary, MSB at ``t = 0``."""
    bits = torch.arange(T - 1, -1, -1)
    return ((torch.arange(2**T).unsqueeze(1) >> bits) & 1).to(dtype)


def pattern_indices(spikes: torch.Tensor) -> torch.Tensor:
    """``[N, T]`` spike trains -> ``[N]`` pattern indices (MSB at ``t = 0``)."""
    T = spikes.shape[-1]
    weights = 2 ** torch.arange(T - 1, -1, -1, device=spikes.device)
    return (spikes.round().long() * weights).sum(-1)


def pattern_grid(imp: str | float) -> tuple[torch.Tensor, torch.Tensor]:
    """The official scripts' grids: ``(imps, weights)``.

    * ``"zero"``: IMP 0, ``w`` in ``linspace(0, 1, 17)`` (Fig 3a);
    * ``"sweep"``: IMP in ``linspace(-1, 1, 9)``, ``w`` in ``linspace(0, 1, 9)`` (Fig 3c, "learnable IMP");
    * a number: that fixed IMP, ``w`` in ``linspace(0, 1, 17)`` (Fig 3b uses 0.25).
    """
    if imp == "zero":
        return torch.zeros(1, dtype=torch.float64), torch.linspace(0, 1, 17, dtype=torch.float64)
    if imp == "sweep":
        return torch.linspace(-1, 1, 9, dtype=torch.float64), torch.linspace(0, 1, 9, dtype=torch.float64)
    if isinstance(imp, int | float) and not isinstance(imp, bool):
        return torch.tensor([float(imp)], dtype=torch.float64), torch.linspace(0, 1, 17, dtype=torch.float64)
    raise UserError(f"pattern grid must be 'zero', 'sweep' or a number, got {imp!r}")


@torch.no_grad()
def mapping_matrix(
    imps: torch.Tensor | Sequence[float],
    weights: torch.Tensor | Sequence[float],
    T: int = 4,
    v_threshold: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """How often each input -> output pattern mapping occurs over the ``imps x weights`` grid.

    Args:
        imps: initial membrane potentials, any shape (flattened).
        weights: input weights ``w``, any shape (flattened).
        T: time steps (patterns have ``T`` bits).
        v_threshold: firing threshold of the soft-reset IF neuron.
        dtype: simulation dtype (the official grids are exact in float32 and float64 alike).
    Returns:
        ``hits [2**T, 2**T]`` (int64): ``hits[out, in]`` = number of ``(IMP, w)`` pairs that map
        pattern ``in`` to pattern ``out``; ``hits > 0`` is the reachability matrix.
    """
    imps = torch.as_tensor(imps, dtype=dtype).flatten()
    weights = torch.as_tensor(weights, dtype=dtype).flatten()
    if imps.numel() == 0 or weights.numel() == 0:
        raise UserError("mapping_matrix needs at least one IMP and one weight")
    patterns = input_patterns(T, dtype)  # [P, T]
    P = patterns.shape[0]
    dyn = IFNode(v_reset=None, v_threshold=v_threshold).dynamics()
    per_imp = weights.numel() * P
    hits = torch.zeros(P * P, dtype=torch.long)
    in_idx = torch.arange(P).repeat(weights.numel())  # matches the (w, pattern) order below
    x_one = weights[:, None, None] * patterns[None]  # [W, P, T]
    x_one = x_one.reshape(per_imp, T).T  # [T, W*P]
    step = max(1, _CHUNK // per_imp)
    for start in range(0, imps.numel(), step):
        chunk = imps[start : start + step]
        x = x_one.repeat(1, chunk.numel())  # [T, n*W*P], IMP-major
        v0 = chunk.repeat_interleave(per_imp)
        spikes = multistep(x, dyn, v_threshold, v0).spikes  # [T, N]
        out_idx = pattern_indices(spikes.T)
        hits.index_add_(0, out_idx * P + in_idx.repeat(chunk.numel()), torch.ones_like(out_idx))
    return hits.view(P, P)


def imps_from_state_dict(state: Any) -> torch.Tensor:
    """Every learned IMP value in a (possibly nested) checkpoint dict, flattened.

    Picks tensors whose key is ``imp`` or ends with ``.imp`` (spikeforge's parameter name),
    searching nested mappings such as ``{"model": state_dict}``.
    """
    found: list[torch.Tensor] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for key, value in obj.items():
                if isinstance(value, torch.Tensor) and (key == "imp" or str(key).endswith(".imp")):
                    found.append(value.detach().flatten().double().cpu())
                elif isinstance(value, dict):
                    walk(value)

    walk(state)
    if not found:
        raise UserError("no learned IMP ('<layer>.imp') in this state dict; was the model trained with imp='learn'?")
    return torch.cat(found)


def imps_from_model(model: nn.Module) -> torch.Tensor:
    """Every learned IMP value of the model's neurons, flattened (float64)."""
    values = [
        m.imp.detach().flatten().double().cpu()
        for m in model.modules()
        if isinstance(m, BaseNode) and m.learn_imp and m.is_materialized()
    ]
    if not values:
        raise UserError("the model has no materialised learnable IMP (imp='learn')")
    return torch.cat(values)


def _select(values: torch.Tensor, max_values: int | None) -> torch.Tensor:
    """At most ``max_values`` values: evenly spaced order statistics, so the range is kept."""
    values = values.flatten().unique()  # sorted
    if max_values is None or values.numel() <= max_values:
        return values
    idx = torch.linspace(0, values.numel() - 1, max_values).round().long()
    return values[idx]


def _labels(T: int) -> list[str]:
    return [format(i, f"0{T}b") for i in range(2**T)]


def plot_mappings(results: Sequence[dict[str, Any]], out_png: str | Path) -> Path:
    """Side-by-side reachability matrices (white = reachable), one panel per result of :func:`run_pattern_mapping`."""
    fig, axes = new_figure(1, len(results), size=(4.6 * len(results), 5.3))
    for ax, res in zip(axes[0], results):
        _draw_matrix(ax, np.asarray(res["matrix"]), res["T"], f"{res['title']}\n{res['num_mappings']} mappings")
    return save_figure(fig, out_png)


def _draw_matrix(ax: Any, matrix: np.ndarray, T: int, title: str) -> None:
    ax.imshow(matrix > 0, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    labels = _labels(T)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("input pattern (t = 0 first)")
    ax.set_ylabel("output pattern")
    ax.set_title(title, fontsize=9)
    ax.set_xticks(np.arange(-0.5, len(labels)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(labels)), minor=True)
    ax.grid(which="minor", color="#555555", linewidth=0.3)
    ax.tick_params(which="minor", length=0)


def run_pattern_mapping(
    out_dir: str | Path,
    imp: str | float | Sequence[float] | torch.Tensor = "zero",
    *,
    weights: Sequence[float] | torch.Tensor | None = None,
    T: int = 4,
    v_threshold: float = 1.0,
    label: str | None = None,
    max_imps: int | None = None,
    dtype: torch.dtype = torch.float64,
) -> dict[str, Any]:
    """Compute one reachability matrix and write ``pattern_mapping_<label>.{png,csv,json}``.

    Args:
        out_dir: output folder (created).
        imp: ``"zero"`` / ``"sweep"`` / a number (see :func:`pattern_grid`), or a tensor/sequence
            of IMP values, e.g. a trained model's learned IMPs (:func:`imps_from_model`).
        weights: input weights; default the grid's (``linspace(0, 1, 17)`` for given IMP values).
        T: time steps; ``v_threshold``: firing threshold.
        label: file-name label; default ``zero``, ``sweep``, ``imp<value>`` or ``given``.
        max_imps: use at most this many distinct IMP values (evenly spaced order statistics)
            to bound the work for models with millions of IMPs.
    Returns:
        ``{"label", "title", "T", "v_threshold", "num_imps", "imp_min", "imp_max", "weights",
        "num_mappings", "mappings_per_input", "reachable_outputs", "matrix", "files"}``;
        ``matrix[out][in]`` is 0/1, ``num_mappings`` its sum.
    """
    if isinstance(imp, str) or (isinstance(imp, int | float) and not isinstance(imp, bool)):
        imps, grid_w = pattern_grid(imp)
        label = label or (imp if isinstance(imp, str) else f"imp{float(imp):g}")
        if isinstance(imp, str):
            title = "IMP = 0" if imp == "zero" else "IMP swept over [-1, 1]"
        else:
            title = f"IMP = {float(imp):g}"
    else:
        imps = _select(torch.as_tensor(imp, dtype=torch.float64), max_imps)
        grid_w = torch.linspace(0, 1, 17, dtype=torch.float64)
        label = label or "given"
        title = f"{imps.numel()} given IMPs in [{imps.min().item():.3g}, {imps.max().item():.3g}]"
    w = grid_w if weights is None else torch.as_tensor(weights, dtype=torch.float64).flatten()
    hits = mapping_matrix(imps, w, T=T, v_threshold=v_threshold, dtype=dtype)
    reach = (hits > 0).long()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"pattern_mapping_{label}"
    result: dict[str, Any] = {
        "label": label,
        "title": f"{title}, {w.numel()} weights in [{w.min().item():g}, {w.max().item():g}]",
        "T": T,
        "v_threshold": v_threshold,
        "num_imps": imps.numel(),
        "imp_min": imps.min().item(),
        "imp_max": imps.max().item(),
        "weights": w.tolist(),
        "num_mappings": int(reach.sum()),
        "mappings_per_input": reach.sum().item() / 2**T,
        "reachable_outputs": int((reach.sum(1) > 0).sum()),
        "matrix": reach.tolist(),
    }
    if imps.numel() <= 64:
        result["imps"] = imps.tolist()

    labels = _labels(T)
    with open(f"{stem}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["in_pattern", "out_pattern", "in_index", "out_index", "reachable", "hits"])
        for i in range(2**T):
            for o in range(2**T):
                writer.writerow([labels[i], labels[o], i, o, int(reach[o, i]), int(hits[o, i])])
    fig, axes = new_figure(size=(5.0, 5.3))
    _draw_matrix(axes[0, 0], reach.numpy(), T, f"{result['title']}\n{result['num_mappings']} reachable mappings")
    save_figure(fig, f"{stem}.png")
    result["files"] = [f"{stem}.png", f"{stem}.csv", f"{stem}.json"]
    Path(f"{stem}.json").write_text(json.dumps(result, indent=1))
    return result
