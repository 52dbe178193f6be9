"""Evaluate a finished run or a checkpoint file on its test set (``spikeforge eval``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..neuron.nodes import materialize
from .builders import build_data, build_loss_from_config, build_model_from_config, encode_batch, encoder_name
from .checkpoint import load_checkpoint
from .config import ConfigError, apply_overrides, config_from_dict
from .engine import _autocast, evaluate, resolve_device

__all__ = ["evaluate_run", "load_trained_model"]


def _checkpoint_path(target: str | Path, which: str) -> Path:
    p = Path(target)
    if p.is_dir():
        for name in [f"{which}.pt", "last.pt", "best.pt"]:
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"{p}: no best.pt or last.pt in this folder (is it a run folder?)")
    if not p.is_file():
        raise FileNotFoundError(f"no such run folder or checkpoint: {p}")
    return p


def load_trained_model(target: str | Path, overrides: list[str] | None = None, which: str = "best"):
    """``(model, cfg, data_info, test_loader, loss_fn, encoder, device)`` restored from a run or checkpoint."""
    path = _checkpoint_path(target, which)
    ckpt = load_checkpoint(path)
    if "config" not in ckpt:
        raise ConfigError(f"{path}: checkpoint has no config (not written by spikeforge?)")
    cfg = config_from_dict(apply_overrides(ckpt["config"], overrides or []))
    device = resolve_device(cfg.device)
    info, _, test_loader = build_data(cfg)
    encoder = encoder_name(cfg, info)
    model = build_model_from_config(cfg, info.num_classes).to(device)
    sample, _ = test_loader.dataset[0]
    materialize(model, encode_batch(sample.unsqueeze(0).to(device), encoder, cfg.T))
    model.load_state_dict(ckpt["model"])
    return model, cfg, info, test_loader, build_loss_from_config(cfg), encoder, device, path


def evaluate_run(
    target: str | Path, overrides: list[str] | None = None, which: str = "best", verbose: bool = True
) -> dict[str, Any]:
    """Evaluate and print accuracy (and per time step); returns the metrics dict."""
    model, cfg, info, loader, loss_fn, encoder, device, path = load_trained_model(target, overrides, which)
    res = evaluate(model, loader, loss_fn, encoder, cfg.T, device, _autocast(cfg, device))
    if verbose:
        print(
            f"[spikeforge] {path}: {info.name} test accuracy {100 * res['acc']:.2f}% over {res['n']} samples "
            f"(loss {res['loss']:.4f}, readout of {cfg.loss.name})"
        )
        print("  step t alone: " + " ".join(f"{100 * a:.1f}%" for a in res["acc_step"]))
        print("  mean of 1..t: " + " ".join(f"{100 * a:.1f}%" for a in res["acc_cum"]))
    return res
