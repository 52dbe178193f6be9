"""The ``spikeforge`` command line.

    spikeforge train [CONFIG] [--set a.b=c ...] [--resume RUN_DIR] [--run-dir DIR]
    spikeforge eval RUN_DIR|CHECKPOINT [--data ROOT] [--set ...]
    spikeforge configs
    spikeforge data info|prepare DATASET --root DIR
    spikeforge analyze NAME ...
    spikeforge energy ...

``CONFIG`` is a YAML path or the name of a shipped config (``spikeforge configs``); with no
config, ``train`` runs the embedded default (digits, small conv SNN, learnable IMP + LTS,
T=4). User errors print one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["main"]

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_CONFIG = "digits_imp_lts"


def resolve_config_path(name_or_path: str | None) -> Path:
    """A YAML path, or a shipped config's name (with or without ``.yaml``)."""
    from .train.config import ConfigError

    if name_or_path is None:
        return CONFIG_DIR / f"{DEFAULT_CONFIG}.yaml"
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = CONFIG_DIR / (p.name if p.suffix in (".yaml", ".yml") else f"{p.name}.yaml")
    if shipped.is_file():
        return shipped
    raise ConfigError(f"config {name_or_path!r} is neither a file nor a shipped config (see `spikeforge configs`)")


def shipped_configs() -> list[tuple[str, str]]:
    """``(name, description)`` of every shipped config, sorted by name."""
    import yaml

    out = []
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text()) or {}
        out.append((path.stem, str(raw.get("description", "")).strip()))
    return out


# ----------------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    from .train.config import load_config
    from .train.engine import train

    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.yaml").is_file():
            from .train.config import ConfigError

            raise ConfigError(f"--resume {run_dir}: no config.yaml there (is it a run folder?)")
        if args.config:
            print("[spikeforge] --resume uses the run's own config.yaml; ignoring CONFIG", file=sys.stderr)
        cfg = load_config(run_dir / "config.yaml", args.set)
        train(cfg, resume=run_dir)
        return 0
    cfg = load_config(resolve_config_path(args.config), args.set)
    train(cfg, run_dir=args.run_dir)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .train.evaluate import evaluate_run

    overrides = list(args.set) + ([f"data.root={args.data}"] if args.data else [])
    evaluate_run(args.target, overrides=overrides, which=args.checkpoint)
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    rows = shipped_configs()
    width = max((len(n) for n, _ in rows), default=0)
    for name, desc in rows:
        print(f"{name:<{width}}  {desc}")
    print(f"\n{len(rows)} configs in {CONFIG_DIR}; run one with `spikeforge train NAME`")
    return 0


# ----------------------------------------------------------------------------- parser
def build_parser(
    plugins: bool = True,
) -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    """The parser and a handler per command; ``plugins=False`` leaves out the contributed commands
    (``train``/``eval``/``configs`` need none of them, and building theirs imports e.g. matplotlib)."""
    parser = argparse.ArgumentParser(prog="spikeforge", description="Train and analyse SNNs with learnable dynamics.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {}

    p = sub.add_parser("train", help="train a config (default: the embedded digits job)")
    p.add_argument("config", nargs="?", help="YAML file or shipped config name")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--run-dir", metavar="DIR", help="exact folder for this run (default out_dir/NAME-TIME)")
    handlers["train"] = cmd_train

    p = sub.add_parser("eval", help="evaluate a run folder or checkpoint on its test set")
    p.add_argument("target", metavar="RUN_DIR|CHECKPOINT")
    p.add_argument("--data", metavar="ROOT", help="dataset root (overrides data.root)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best", help="which checkpoint of a run folder")
    handlers["eval"] = cmd_eval

    p = sub.add_parser("configs", help="list the shipped configs")
    handlers["configs"] = cmd_configs

    for module, adder, runner in _PLUGINS if plugins else []:
        try:
            mod = __import__(f"spikeforge.{module}", fromlist=[adder, runner])
        except ModuleNotFoundError:
            continue
        added = getattr(mod, adder)(sub)
        # adders return the names they added (or the sub-parser they created)
        names = [added.prog.split()[-1]] if isinstance(added, argparse.ArgumentParser) else list(added)
        for name in names:
            handlers[name] = getattr(mod, runner)
    return parser, handlers


# Sub-commands contributed by other modules: (module, add_parser(subparsers) -> names, run(args) -> int).
_PLUGINS: list[tuple[str, str, str]] = [
    ("analysis.cli", "add_analyze_parser", "run_analyze"),
    ("monitor.cli", "add_energy_parser", "run_energy"),
    ("data.cli", "add_data_parser", "run_data"),
    ("report.cli", "add_report_parser", "run_report"),
    ("reproduce.cli", "add_reproduce_parser", "run_reproduce"),
]


_BUILTIN = ("train", "eval", "configs")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser, handlers = build_parser(plugins=command not in _BUILTIN)
    args = parser.parse_args(argv)
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("spikeforge: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # user-facing errors: one line, no traceback unless --debug
        if args.debug or not _is_user_error(exc):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"spikeforge: error: {msg}", file=sys.stderr)
        return 2


def _is_user_error(exc: Exception) -> bool:
    from .neuron.nodes import NeuronParameterError
    from .train.engine import TrainingDiverged

    return isinstance(
        exc, ValueError | FileNotFoundError | NotADirectoryError | NeuronParameterError | TrainingDiverged | ImportError
    )


if __name__ == "__main__":
    sys.exit(main())
