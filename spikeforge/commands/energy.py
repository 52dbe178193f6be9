"""``spikeforge energy``: per-layer MACs / SOPs / energy of a model.

Examples::

    spikeforge energy runs/digits_imp_lts-20250101-120000     # trained run, 4 test batches
    spikeforge energy digits_imp_lts --batches 8 --out energy/  # a config's untrained model on its data
    spikeforge energy --model sew_resnet18_cifar --T 4 --batch 8 --json energy.json
    spikeforge energy --model mypkg.nets:small_net --input-shape 4,8,3,32,32 --input rand

With ``TARGET`` (a run folder, a checkpoint or a config) the model runs on real test batches
and the report goes to ``energy.json`` / ``energy.csv`` in the run folder (or ``--out``).

``--model`` is a registered model name (``spikeforge.models``) or a ``module:function`` import
path, called with the ``--model-arg`` values. Without ``--input-shape`` a registered model gets
``[T, batch, *its input shape]``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..command_registry import add_command_parser, register_command
from ..encoding import direct
from ..errors import MissingFileError, SpikeForgeError, UserError
from ..monitor.energy import E_AC_PJ, E_MAC_PJ, energy_report, format_table

__all__ = ["add_energy_parser", "make_sample_input", "resolve_model", "run_energy"]

ModelBuilder = Callable[..., nn.Module]


def _configure(p: argparse.ArgumentParser) -> None:
    """The ``energy`` arguments."""
    p.add_argument(
        "target",
        nargs="?",
        metavar="RUN_DIR|CHECKPOINT|CONFIG",
        help="measure a trained run (or a config's untrained model) on test batches of its dataset",
    )
    p.add_argument("--batches", type=int, default=4, help="test batches measured for TARGET (default 4)")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best", help="which checkpoint of a run folder")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for TARGET")
    p.add_argument(
        "--trust-paths",
        action="store_true",
        help="use the paths in a checkpoint's config (data root, cache folders); off: only paths you give",
    )
    p.add_argument("--out", type=Path, help="folder for energy.json/csv (default: the run folder; none for a config)")
    p.add_argument("--model", help="a registered model name or 'package.module:function' (instead of TARGET)")
    p.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument for the model builder (VALUE is parsed as YAML); repeatable",
    )
    p.add_argument(
        "--input-shape",
        help="model input shape [T,B,...], comma-separated, e.g. 4,8,3,32,32 (default for a registered model: "
        "T,batch + its input shape)",
    )
    p.add_argument("--T", type=int, default=4, help="time steps when --input-shape is not given (default 4)")
    p.add_argument("--batch", type=int, default=1, help="batch size when --input-shape is not given (default 1)")
    p.add_argument(
        "--input",
        default="direct",
        help="'direct' (one uniform [0,1) image per sample repeated over T, as direct encoding), 'rand' (uniform "
        "per step), 'bernoulli' (spikes at --rate), 'ones', or a .pt file with a tensor (default direct)",
    )
    p.add_argument("--rate", type=float, default=0.2, help="spike probability for --input bernoulli")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--e-mac", type=float, default=E_MAC_PJ, help="pJ per multiply-accumulate (default 4.6, 45 nm)")
    p.add_argument("--e-ac", type=float, default=E_AC_PJ, help="pJ per accumulate (default 0.9, 45 nm)")
    p.add_argument("--mac-layer", action="append", default=[], help="count this layer as MACs whatever its input")
    p.add_argument("--counts-as-mac", action="store_true", help="count non-binary integer inputs as MACs, not ACs")
    p.add_argument("--json", type=Path, help="also write the report as JSON here")


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        shape = ()
    if len(shape) < 2 or any(s <= 0 for s in shape):
        raise UserError(f"--input-shape must be positive integers like 4,8,3,32,32, got {text!r}")
    return shape


def _parse_model_args(items: list[str]) -> dict[str, Any]:
    import yaml  # the [train] extra's; imported here so that every other command works without it

    kwargs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--model-arg must be KEY=VALUE, got {item!r}")
        kwargs[key] = yaml.safe_load(value)
    return kwargs


def _registry_builder() -> ModelBuilder:
    from ..models import build_model

    return build_model


def resolve_model(spec: str, kwargs: dict[str, Any], build_model: ModelBuilder | None = None) -> nn.Module:
    """Build a model from ``'module:function'`` or a registered name (``build_model``, default the model registry)."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise UserError(f"--model {spec!r}: cannot import {attr!r} from {module_name!r} ({e})") from None
        model = fn(**kwargs)
    else:
        model = (build_model or _registry_builder())(spec, **kwargs)
    if not isinstance(model, nn.Module):
        raise UserError(f"--model {spec!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _default_shape(spec: str, T: int, batch: int) -> tuple[int, ...]:
    """``(T, batch, *input_shape)`` of a registered model."""
    if ":" in spec:
        raise UserError(f"--model {spec!r} is not a registered model; give --input-shape")
    from ..models import model_info

    return (T, batch, *model_info(spec).input_shape)


def make_sample_input(kind: str, shape: tuple[int, ...] | None, rate: float = 0.2, seed: int = 0) -> torch.Tensor:
    """A sample input ``[T, B, ...]``: ``direct`` (a uniform image per sample repeated over T), ``rand`` (uniform
    per step), ``bernoulli`` (spikes at ``rate``), ``ones``, or a ``.pt`` file."""
    if kind in ("direct", "rand", "bernoulli", "ones") and shape is None:
        raise UserError(f"--input {kind} needs --input-shape")
    gen = torch.Generator().manual_seed(seed)
    if kind == "direct":
        if len(shape) < 3:
            raise UserError(f"--input direct needs a [T, B, ...] shape, got {shape}")
        # an expanded view, as spikeforge.encoding.direct makes: encode-once stems run once
        return direct(torch.rand(shape[1:], generator=gen), shape[0])
    if kind == "rand":
        return torch.rand(shape, generator=gen)
    if kind == "bernoulli":
        if not 0.0 <= rate <= 1.0:
            raise UserError(f"--rate must be in [0, 1], got {rate}")
        return torch.bernoulli(torch.full(shape, rate), generator=gen)
    if kind == "ones":
        return torch.ones(shape)
    path = Path(kind)
    if path.suffix == ".pt":
        return _load_input(path)
    raise UserError(f"--input must be 'direct', 'rand', 'bernoulli', 'ones' or a .pt file, got {kind!r}")


def _load_input(path: Path) -> torch.Tensor:
    """A tensor saved with ``torch.save``, loaded weights-only; one-line errors for every way it can be wrong."""
    from ..train.checkpoint import _reason

    if not path.is_file():
        raise MissingFileError(f"--input {path}: no such file")
    if path.stat().st_size == 0:
        raise UserError(f"--input {path}: the file is empty (0 bytes)")
    try:
        x = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, foreign or hostile files
        raise UserError(f"--input {path}: cannot load it: {_reason(exc)}") from None
    if not isinstance(x, torch.Tensor):
        raise UserError(f"--input {path}: expected a saved tensor, got {type(x).__name__}")
    if x.dim() < 3:
        raise UserError(f"--input {path}: expected a [T, B, ...] tensor, got shape {list(x.shape)}")
    if not x.is_floating_point():
        x = x.float()
    if not bool(torch.isfinite(x).all()):
        raise UserError(f"--input {path}: the tensor holds NaN or inf values")
    return x


def run_energy(args: argparse.Namespace, build_model: ModelBuilder | None = None) -> int:
    """Run ``spikeforge energy``; prints the table (and writes JSON). Returns the exit status.

    ``build_model(name, **kwargs)`` resolves model names (default ``spikeforge.models.build_model``).
    User errors print one line on stderr and return 2 (re-raised with ``args.debug``).
    """
    try:
        if args.target is not None:
            return _run_target(args)
        if not args.model:
            raise UserError("give a RUN_DIR, CHECKPOINT or CONFIG, or --model NAME")
        if args.input_shape:
            shape: tuple[int, ...] | None = _parse_shape(args.input_shape)
        elif Path(args.input).suffix == ".pt":
            shape = None
        else:
            shape = _default_shape(args.model, args.T, args.batch)
        model = resolve_model(args.model, _parse_model_args(args.model_arg), build_model)
        x = make_sample_input(args.input, shape, args.rate, args.seed)
        try:
            report = energy_report(
                model, x, args.e_mac, args.e_ac, mac_layers=args.mac_layer, count_as_ac=not args.counts_as_mac
            )
        # the forward pass on the user's input: a shape or dtype that does not fit (torch raises RuntimeError,
        # the models' own input checks ValueError)
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"--input of shape {list(x.shape)} does not fit --model {args.model}: {first}") from None
    except SpikeForgeError as e:  # the user's faults only; anything else is a bug and keeps its traceback
        if getattr(args, "debug", False):
            raise
        print(f"spikeforge energy: error: {e}", file=sys.stderr)
        return 2
    print(format_table(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


def _run_target(args: argparse.Namespace) -> int:
    """``spikeforge energy TARGET``: measure on test batches, print, write energy.json/csv."""
    from ..train.energy import energy_of_target, write_energy

    if args.model:
        raise UserError("give either TARGET or --model, not both")
    report, run_dir = energy_of_target(
        args.target,
        batches=args.batches,
        which=args.checkpoint,
        overrides=args.set,
        trust_paths=getattr(args, "trust_paths", False),
        e_mac=args.e_mac,
        e_ac=args.e_ac,
        mac_layers=args.mac_layer,
        count_as_ac=not args.counts_as_mac,
    )
    src = report["source"]
    what = src.get("checkpoint") or f"{src['config']} (untrained)"
    print(f"{what}: {src['model']} on {src['dataset']}, T={src['T']}, {report['num_samples']} test samples")
    print(format_table(report))
    out = args.out if args.out is not None else run_dir
    if out is not None:
        for path in write_energy(report, out).values():
            print(f"wrote {path}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


register_command(
    "energy",
    help="per-layer MACs, SOPs and energy estimate of a model",
    description="Count MACs (non-spiking inputs) and SOPs (spike inputs) per conv/linear layer with a real "
    "forward pass and estimate energy with E = e_mac*MACs + e_ac*SOPs (per sample).",
    configure=_configure,
    handler=run_energy,
)
# for a parent CLI: adds the ``energy`` sub-command to its subparsers and returns its parser
add_energy_parser = functools.partial(add_command_parser, name="energy")
