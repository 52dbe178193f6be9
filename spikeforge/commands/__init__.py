"""The ``spikeforge`` command line.

    spikeforge train [CONFIG] [--set a.b=c ...] [--resume RUN_DIR] [--run-dir DIR [--overwrite]]
    spikeforge eval RUN_DIR|CHECKPOINT [--data ROOT] [--set ...] [--trust-paths]
    spikeforge configs
    spikeforge data list|info|prepare DATASET --root DIR
    spikeforge models [NAME]
    spikeforge analyze NAME ...
    spikeforge energy ...
    spikeforge report RUN_DIR ...
    spikeforge reproduce ...
    spikeforge memory CONFIG [--batch B] [--gpu-mem 24GiB] [--check]

``CONFIG`` is a YAML path or the name of a shipped config (``spikeforge configs``); with no
config, ``train`` runs the embedded default (digits, small conv SNN, learnable IMP + LTS,
T=4). User errors (SpikeForge's own error classes, :func:`_user_errors`, and a full or
read-only disk) print one line and exit 2; anything else is a bug and keeps its traceback;
``--debug`` shows the traceback of every error.

One module per command (:mod:`.train` for ``train``/``eval``/``configs``, :mod:`.data`, :mod:`.models`,
:mod:`.analyze`, :mod:`.energy`, :mod:`.report`, :mod:`.reproduce`, :mod:`.memory`); the library never imports
this package (a test walks it).
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from collections.abc import Callable

__all__ = ["build_parser", "main"]


# ----------------------------------------------------------------------------- parser
def build_parser(
    plugins: bool = True,
) -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    """The parser and a handler per command; ``plugins=False`` leaves out the contributed commands
    (``train``/``eval``/``configs`` need none of them, and building theirs imports e.g. matplotlib)."""
    from .train import cmd_configs, cmd_eval, cmd_train

    parser = argparse.ArgumentParser(prog="spikeforge", description="Train and analyse SNNs with learnable dynamics.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"spikeforge {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {}

    p = sub.add_parser("train", help="train a config (default: the embedded digits job)")
    p.add_argument("config", nargs="?", help="YAML file or shipped config name")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--run-dir", metavar="DIR", help="exact folder for this run (default out_dir/NAME-TIME)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the run already in --run-dir (without it, it is refused)"
    )
    handlers["train"] = cmd_train

    p = sub.add_parser("eval", help="evaluate a run folder or checkpoint on its test set")
    p.add_argument("target", metavar="RUN_DIR|CHECKPOINT")
    p.add_argument("--data", metavar="ROOT", help="dataset root (overrides data.root)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best", help="which checkpoint of a run folder")
    p.add_argument(
        "--trust-paths",
        action="store_true",
        help="use the paths in the checkpoint's config (data root, cache folders); off: only paths you give",
    )
    handlers["eval"] = cmd_eval

    p = sub.add_parser("configs", help="list the shipped configs")
    handlers["configs"] = cmd_configs

    # The area commands, imported explicitly (a missing or broken one fails loudly instead of vanishing);
    # only when the command needs them: building their parsers imports e.g. matplotlib.
    area_commands: list[tuple[Callable, Callable]] = []
    if plugins:
        from . import analyze, data, energy, memory, models, report, reproduce

        area_commands = [
            (analyze.add_analyze_parser, analyze.run_analyze),
            (energy.add_energy_parser, energy.run_energy),
            (data.add_data_parser, data.run_data),
            (models.add_models_parser, models.run_models),
            (report.add_report_parser, report.run_report),
            (memory.add_memory_parser, memory.run_memory),
            (reproduce.add_reproduce_parser, reproduce.run_reproduce),
        ]
    for add, run in area_commands:
        added = add(sub)
        # adders return the names they added (or the sub-parser they created)
        names = [added.prog.split()[-1]] if isinstance(added, argparse.ArgumentParser) else list(added)
        for name in names:
            handlers[name] = run
    return parser, handlers


def _version() -> str:
    from .. import __version__

    return __version__


_BUILTIN = ("train", "eval", "configs")
# Commands that train start with the allocator set-up (spikeforge.runtime.tune_allocator); `train` and
# `eval` do it themselves once they know the run's config (run.allocator).
_TUNES_ALLOCATOR = ("analyze", "reproduce")


class _StderrHandler(logging.StreamHandler):
    """Writes to the *current* ``sys.stderr`` (so redirections made after start-up are honoured)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging() -> None:
    """The command is the application: it, not the library, decides where SpikeForge's log records go.

    ``[spikeforge] ...`` lines on stderr from INFO up (which backend runs, a kernel build, a dataset generated
    once); done once per process, and left alone where the ``spikeforge`` logger already has a handler.
    """
    logger = logging.getLogger("spikeforge")
    if logger.handlers:
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("[spikeforge] %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    configure_logging()
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser, handlers = build_parser(plugins=command not in _BUILTIN)
    except ModuleNotFoundError as exc:  # an optional package the command's modules import (pyyaml, ...)
        missing = _missing_dependency(exc, command)
        if "--debug" in argv or missing is None:
            raise
        print(f"spikeforge: error: {missing}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        if args.command in _TUNES_ALLOCATOR:
            from ..runtime import tune_allocator

            tune_allocator()
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("spikeforge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `spikeforge models | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except Exception as exc:  # user-facing errors: one line, no traceback unless --debug
        missing = _missing_dependency(exc, args.command)
        if args.debug or not (_is_user_error(exc) or missing is not None):
            raise
        print(f"spikeforge: error: {_one_line(missing or exc)}", file=sys.stderr)
        return 2


def _missing_dependency(exc: BaseException, command: str | None) -> BaseException | None:
    """The one-line error naming the extra to install, for a missing optional package (else ``None``)."""
    from ..extras import missing_dependency

    return missing_dependency(exc, f"spikeforge {command}" if command else "spikeforge")


def _user_errors() -> tuple[type[BaseException], ...]:
    """SpikeForge's own error classes: the only exceptions shown as one line (everything else is a bug)."""
    from ..errors import SpikeForgeError

    # DataError (spikeforge.data.errors), NIRConversionError and NeuronParameterError derive from it.
    return (SpikeForgeError,)


# The machine's faults, not SpikeForge's: a full disk or a read-only folder is reported in one line too.
_ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, _user_errors()):
        return True
    return isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, _user_errors()):
        from ..train.runfolder import os_error_message

        return os_error_message(exc)
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
