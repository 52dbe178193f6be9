"""Evaluation: :func:`evaluate` (loss and accuracies of a model over a test set, the engine's too), and
a finished run or a checkpoint file restored and evaluated on its test set (``spikeforge eval``).

A checkpoint may come from anywhere: its embedded config is a record of how it was
trained, not an instruction. Paths in it (``data.root``, ``out_dir``, ``model.init_from``,
``data.options.cache_dir`` and any other ``*_dir`` / ``*_path`` / ``*_file`` option) are not
used unless the user gives them (``--data ROOT``, ``--set KEY=VALUE``) or says
``trust_paths`` (``--trust-paths``); nothing is read from or written to a folder the
checkpoint names.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import torch
from torch import nn

from .. import distributed as D
from ..errors import MissingFileError, UserError
from ..neuron.nodes import materialize
from . import runfolder as RF
from .builders import build_data, build_loss_from_config, build_model_from_config, encode_batch, encoder_name
from .checkpoint import load_checkpoint, load_model_state
from .config import Config, ConfigError, apply_overrides, config_from_dict
from .runtime import autocast, resolve_device, use_device

if TYPE_CHECKING:
    from ..data.registry import DatasetInfo

__all__ = ["TrainedModel", "checkpoint_paths", "evaluate", "evaluate_run", "load_trained_model"]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: nn.Module,
    encoder: str,
    T: int,
    device: torch.device,
    autocast: AbstractContextManager[Any],
) -> dict[str, Any]:
    """Loss, readout accuracy and per-step accuracies over ``loader`` (summed over ranks).

    ``model`` takes ``encode_batch(x, encoder, T)`` (``[T, B, ...]``) and returns ``[T, B, classes]``;
    ``autocast`` is the precision context of the run (:func:`.runtime.autocast`).

    ``acc_step[t]`` uses the output at step ``t`` alone; ``acc_cum[t]`` the mean of steps
    ``0..t`` (so ``acc_cum[-1]`` is the mean readout).
    """
    model.eval()
    sums = None
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast:
            out = model(encode_batch(x, encoder, T))
            loss = loss_fn(out, y)
        out = out.float()
        Tn = out.shape[0]
        pred = cast(Callable[[torch.Tensor], torch.Tensor], loss_fn.readout)(out).argmax(-1)
        step_pred = out.argmax(-1)  # [T, B]
        cum = out.cumsum(0) / torch.arange(1, Tn + 1, device=out.device).view(-1, 1, 1)
        batch = torch.cat(
            [
                torch.stack([loss.float() * y.shape[0], (pred == y).sum().float(), y.new_tensor(y.shape[0]).float()]),
                (step_pred == y).sum(1).float(),
                (cum.argmax(-1) == y).sum(1).float(),
            ]
        )
        sums = batch.double() if sums is None else sums + batch.double()
    if sums is None:  # an empty shard (fewer samples than ranks) still takes part in the reduction
        sums = torch.zeros(3 + 2 * T, dtype=torch.float64, device=device)
    D.all_reduce_sum(sums)
    n = sums[2].item()
    if n == 0:
        raise UserError("the evaluation set is empty")
    Tn = (len(sums) - 3) // 2
    return {
        "loss": sums[0].item() / n,
        "acc": sums[1].item() / n,
        "acc_step": [v / n for v in sums[3 : 3 + Tn].tolist()],
        "acc_cum": [v / n for v in sums[3 + Tn :].tolist()],
        "n": int(n),
    }


class TrainedModel(NamedTuple):
    """A trained model restored by :func:`load_trained_model`, with what evaluating it needs.

    A tuple too: ``model, cfg, info, loader, loss_fn, encoder, device, path = load_trained_model(...)``.
    """

    model: nn.Module
    cfg: Config
    info: DatasetInfo  # the dataset's description
    test_loader: Any
    loss_fn: nn.Module
    encoder: str  # how a batch becomes the model's [T, B, ...] input (builders.encode_batch)
    device: torch.device
    checkpoint_path: Path


def _checkpoint_path(target: str | Path, which: str) -> Path:
    p = Path(target)
    if p.is_dir():
        for name in [f"{which}.pt", RF.LAST, RF.BEST]:
            if (p / name).is_file():
                return p / name
        raise MissingFileError(f"{p}: no {RF.BEST} or {RF.LAST} in this folder (is it a run folder?)")
    if not p.is_file():
        raise MissingFileError(f"no such run folder or checkpoint: {p}")
    return p


def _is_path_key(key: str) -> bool:
    leaf = key.rsplit(".", 1)[-1]
    return leaf in ("root", "out_dir", "init_from") or leaf.endswith(("_dir", "_path", "_file", "_root"))


def checkpoint_paths(raw: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(dotted key, value)`` of every path-valued field set in a config mapping."""
    found = []
    for section, node in (("", raw), ("data", raw.get("data")), ("model", raw.get("model"))):
        if not isinstance(node, dict):
            continue
        items = list(node.items())
        if isinstance(node.get("options"), dict):
            items += [(f"options.{k}", v) for k, v in node["options"].items()]
        for key, value in items:
            dotted = f"{section}.{key}" if section else key
            if section == "" and key in ("data", "model"):
                continue
            if _is_path_key(dotted) and value not in (None, ""):
                found.append((dotted, value))
    return found


def _drop(raw: dict[str, Any], dotted: str) -> None:
    parts = dotted.split(".")
    node = raw
    for p in parts[:-1]:
        node = node[p]
    if dotted == "out_dir":
        node["out_dir"] = Config.out_dir
    elif parts[-1] in ("root", "init_from") and len(parts) == 2:
        node[parts[-1]] = None
    else:
        node.pop(parts[-1], None)


def load_trained_model(
    target: str | Path, overrides: list[str] | None = None, which: str = "best", trust_paths: bool = False
) -> TrainedModel:
    """Restore a trained model from a run folder or a checkpoint file.

    Returns a :class:`TrainedModel` ``(model, cfg, info, test_loader, loss_fn, encoder, device, checkpoint_path)``.
    Paths in the checkpoint's config are used only when ``trust_paths`` is set or ``overrides``
    give them (see the module docstring); a dataset that needs files then needs ``data.root``
    from the user.
    """
    overrides = list(overrides or [])
    path = _checkpoint_path(target, which)
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt.get("config"), dict) or "model" not in ckpt:
        raise ConfigError(f"{path}: checkpoint has no config or model (not written by spikeforge?)")
    raw = copy.deepcopy(ckpt["config"])
    given = {o.split("=", 1)[0].strip() for o in overrides}
    ignored = []
    for key, value in checkpoint_paths(raw):
        if key in given:
            continue
        if key == "model.init_from":  # the checkpoint holds the weights: never read the file it started from
            _drop(raw, key)
        elif not trust_paths:
            _drop(raw, key)
            ignored.append((key, value))
    cfg = config_from_dict(apply_overrides(raw, overrides))
    from ..data.registry import dataset_info

    if dataset_info(cfg.data.name).needs_root and not cfg.data.root:
        named = dict(ignored).get("data.root")
        hint = (
            f"; its config names {named!r}, which is used only when you say so: --data {named} (or --trust-paths)"
            if named
            else ""
        )
        raise ConfigError(f"{path}: dataset {cfg.data.name!r} reads files from disk: give --data ROOT{hint}")
    for key, value in ignored:
        if key != "data.root":
            print(
                f"[spikeforge] ignoring {key}={value!r} from the checkpoint's config (a checkpoint's paths are used "
                f"only when you give them: --set {key}=... or --trust-paths)",
                file=sys.stderr,
            )
    device = resolve_device(cfg.device)
    use_device(device)  # cuda:1 current for what runs on it (kernels launch on the current device)
    # The weights are checked against the model before any data is built: a dataset can take minutes to index
    # or generate (sim_event_digits writes 1,799 files) for a checkpoint that is then refused.
    model = build_model_from_config(cfg, dataset_info(cfg.data.name).num_classes).to(device)
    load_model_state(model, ckpt["model"], path)
    info, _, test_loader = build_data(cfg)
    encoder = encoder_name(cfg, info)
    sample, _ = test_loader.dataset[0]
    try:  # the model's first forward: an input it cannot take fails here
        materialize(model, encode_batch(sample.unsqueeze(0).to(device), encoder, cfg.T))
    except RuntimeError as exc:
        reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ConfigError(
            f"{path}: its model {cfg.model.name!r} does not take {info.name!r} samples of shape "
            f"{list(sample.shape)} ({reason[:200]})"
        ) from None
    return TrainedModel(model, cfg, info, test_loader, build_loss_from_config(cfg), encoder, device, path)


def evaluate_run(
    target: str | Path,
    overrides: list[str] | None = None,
    which: str = "best",
    verbose: bool = True,
    trust_paths: bool = False,
) -> dict[str, Any]:
    """Evaluate and print accuracy (and per time step); returns the metrics dict."""
    run = load_trained_model(target, overrides, which, trust_paths)
    cfg, device = run.cfg, run.device
    res = evaluate(run.model, run.test_loader, run.loss_fn, run.encoder, cfg.T, device, autocast(cfg.precision, device))
    if verbose:
        print(
            f"[spikeforge] {run.checkpoint_path}: {run.info.name} test accuracy {100 * res['acc']:.2f}% "
            f"over {res['n']} samples "
            f"(loss {res['loss']:.4f}, readout of {cfg.loss.name})"
        )
        print("  step t alone: " + " ".join(f"{100 * a:.1f}%" for a in res["acc_step"]))
        print("  mean of 1..t: " + " ".join(f"{100 * a:.1f}%" for a in res["acc_cum"]))
    return res
