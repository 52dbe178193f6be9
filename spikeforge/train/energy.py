"""Energy of a trained run (or of a config's untrained model) measured on real test batches.

:func:`energy_of_target` resolves what the user named:

* a run folder or a checkpoint file: the trained model is restored with
  :func:`spikeforge.train.evaluate.load_trained_model`;
* a config (a YAML path or a shipped config name): the model is built untrained, as the
  engine would build it (same seed);

then runs ``batches`` test batches through an :class:`~spikeforge.monitor.energy.EnergyMeter`
in eval mode, so the SOPs use the firing rates the model really has on its data.

It lives beside the engine, not in :mod:`spikeforge.monitor`: it builds models and data the
way training does, and the monitors stay below the trainer (they import nothing from it).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..monitor.energy import E_AC_PJ, E_MAC_PJ, EnergyMeter

__all__ = ["energy_of_target", "is_run_target", "measure_energy", "write_energy"]

CSV_FIELDS = (
    "layer",
    "type",
    "input_kind",
    "op",
    "flops",
    "steps",
    "dense_macs",
    "input_rate",
    "macs",
    "sops",
    "energy_pj",
)


def is_run_target(target: str | Path) -> bool:
    """Whether ``target`` names a run folder or a checkpoint (else it is a config)."""
    p = Path(target)
    return p.is_dir() or p.suffix in (".pt", ".pth")


@torch.no_grad()
def measure_energy(
    model: torch.nn.Module,
    loader: Any,
    encoder: str,
    T: int,
    device: torch.device | str = "cpu",
    *,
    batches: int = 4,
    e_mac: float = E_MAC_PJ,
    e_ac: float = E_AC_PJ,
    mac_layers: list[str] | tuple[str, ...] = (),
    count_as_ac: bool = True,
) -> dict[str, Any]:
    """Run up to ``batches`` batches of ``loader`` through ``model`` (eval mode) and return the energy report."""
    from .builders import encode_batch

    if batches < 1:
        raise UserError(f"--batches must be >= 1, got {batches}")
    meter = EnergyMeter(model, e_mac, e_ac, mac_layers=mac_layers, count_as_ac=count_as_ac)
    was_training = model.training
    model.eval()
    try:
        for i, (x, _) in enumerate(loader):
            if i >= batches:
                break
            meter.update(encode_batch(x.to(device), encoder, T))
    finally:
        model.train(was_training)
    return meter.compute()


def energy_of_target(
    target: str | Path,
    *,
    batches: int = 4,
    which: str = "best",
    overrides: list[str] | None = None,
    trust_paths: bool = False,
    e_mac: float = E_MAC_PJ,
    e_ac: float = E_AC_PJ,
    mac_layers: list[str] | tuple[str, ...] = (),
    count_as_ac: bool = True,
) -> tuple[dict[str, Any], Path | None]:
    """The energy report of a run folder, checkpoint or config, and the run folder (``None`` for a config).

    Paths in a checkpoint's config are used only with ``trust_paths`` or when ``overrides`` give
    them (see :func:`spikeforge.train.evaluate.load_trained_model`).

    The report gets a ``"source"`` entry saying what was measured (checkpoint or config,
    dataset, model, T, number of test samples, trained or not).
    """
    from .builders import (
        build_data,
        build_model_from_config,
        check_init_from,
        encode_batch,
        encoder_name,
        init_from_state_dict,
    )

    overrides = list(overrides or [])
    if is_run_target(target):
        from .evaluate import load_trained_model

        run = load_trained_model(target, overrides, which, trust_paths)
        model, cfg, info, loader, encoder, device = (
            run.model,
            run.cfg,
            run.info,
            run.test_loader,
            run.encoder,
            run.device,
        )
        run_dir: Path | None = run.checkpoint_path.parent
        source = {"checkpoint": str(run.checkpoint_path), "trained": True}
    else:
        from ..neuron.nodes import materialize
        from .config import load_config, resolve_config_path
        from .runtime import resolve_device, seed_everything, use_device

        path = resolve_config_path(str(target))
        cfg = load_config(path, overrides)
        check_init_from(cfg)  # a missing model.init_from file: one line, before the data
        device = resolve_device(cfg.device)
        use_device(device)  # cuda:1 current for what runs on it (kernels launch on the current device)
        seed_everything(cfg.seed)  # the untrained weights the engine would start from
        info, _, loader = build_data(cfg)
        encoder = encoder_name(cfg, info)
        model = build_model_from_config(cfg, info.num_classes).to(device)
        sample, _ = loader.dataset[0]
        materialize(model, encode_batch(sample.unsqueeze(0).to(device), encoder, cfg.T))
        if cfg.model.init_from:  # the weights the engine starts from (e.g. torchvision's ANN for ImageNet)
            init_from_state_dict(model, cfg.model.init_from)
        run_dir = None
        source = {"config": str(path), "trained": False, "init_from": cfg.model.init_from}
    report = measure_energy(
        model,
        loader,
        encoder,
        cfg.T,
        device,
        batches=batches,
        e_mac=e_mac,
        e_ac=e_ac,
        mac_layers=mac_layers,
        count_as_ac=count_as_ac,
    )
    report["source"] = {**source, "dataset": info.name, "model": cfg.model.name, "T": cfg.T, "batches": batches}
    return report, run_dir


def write_energy(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``energy.json`` (the whole report) and ``energy.csv`` (one row per layer, then ``total``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "energy.json", "csv": out / "energy.csv"}
    paths["json"].write_text(json.dumps(report, indent=2))
    with paths["csv"].open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(report["layers"])
        w.writerow({"layer": "total", **{k: report["totals"][k] for k in ("dense_macs", "macs", "sops", "energy_pj")}})
    return paths
