"""``spikeforge train``, ``spikeforge eval`` and ``spikeforge configs``: the core commands.

Importing this module imports nothing heavy (the engine is imported when a command runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..command_registry import register_command
from ..train.config import CONFIG_DIR, resolve_config_path, shipped_configs

__all__ = ["cmd_configs", "cmd_eval", "cmd_train"]


# ----------------------------------------------------------------------------- arguments
def _configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="YAML file or shipped config name")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--run-dir", metavar="DIR", help="exact folder for this run (default out_dir/NAME-TIME)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the run already in --run-dir (without it, it is refused)"
    )


def _configure_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="RUN_DIR|CHECKPOINT")
    p.add_argument("--data", metavar="ROOT", help="dataset root (overrides data.root)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best", help="which checkpoint of a run folder")
    p.add_argument(
        "--trust-paths",
        action="store_true",
        help="use the paths in the checkpoint's config (data root, cache folders); off: only paths you give",
    )


# ----------------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..runtime import tune_allocator
    from ..train import runfolder as RF
    from ..train.config import ConfigError, load_config
    from ..train.engine import train

    if args.resume:
        run_dir = Path(args.resume)
        if args.run_dir or args.overwrite:
            raise UserError("--resume continues its own folder: it takes neither --run-dir nor --overwrite")
        if not (run_dir / RF.CONFIG).is_file():
            raise ConfigError(f"--resume {run_dir}: no {RF.CONFIG} there (is it a run folder?)")
        if args.config:
            print(f"[spikeforge] --resume uses the run's own {RF.CONFIG}; ignoring CONFIG", file=sys.stderr)
        # overrides are applied or refused one by one against the checkpoint by the engine
        cfg = load_config(run_dir / RF.CONFIG, args.set)
        tune_allocator(cfg.run.allocator)
        train(cfg, resume=run_dir)
        return 0
    if args.overwrite and not args.run_dir:
        raise UserError("--overwrite needs --run-dir (a new run otherwise gets a new timestamped folder)")
    cfg = load_config(resolve_config_path(args.config), args.set)
    tune_allocator(cfg.run.allocator)  # every rank under torchrun runs this command too
    train(cfg, run_dir=args.run_dir, overwrite=args.overwrite)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ..runtime import tune_allocator
    from ..train.evaluate import evaluate_run

    overrides = list(args.set) + ([f"data.root={args.data}"] if args.data else [])
    tune_allocator(_override_value(args.set, "run.allocator"))
    evaluate_run(args.target, overrides=overrides, which=args.checkpoint, trust_paths=args.trust_paths)
    return 0


def _override_value(overrides: list[str], key: str) -> str | None:
    """The value a ``--set KEY=VALUE`` gives ``key`` (the last one wins), or ``None``."""
    values = [item.split("=", 1)[1].strip() for item in overrides if item.split("=", 1)[0].strip() == key]
    return values[-1] if values else None


def cmd_configs(args: argparse.Namespace) -> int:
    rows = shipped_configs()
    width = max((len(n) for n, _ in rows), default=0)
    for name, desc in rows:
        print(f"{name:<{width}}  {desc}")
    print(f"\n{len(rows)} configs in {CONFIG_DIR}; run one with `spikeforge train NAME`")
    return 0


register_command(
    "train", help="train a config (default: the embedded digits job)", configure=_configure_train, handler=cmd_train
)
register_command(
    "eval", help="evaluate a run folder or checkpoint on its test set", configure=_configure_eval, handler=cmd_eval
)
register_command("configs", help="list the shipped configs", handler=cmd_configs)
