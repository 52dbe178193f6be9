"""The ``spikeforge`` command line.

    spikeforge train [CONFIG] [--set a.b=c ...] [--resume RUN_DIR] [--run-dir DIR [--overwrite]]
    spikeforge eval RUN_DIR|CHECKPOINT [--data ROOT] [--set ...] [--trust-paths]
    spikeforge configs
    spikeforge data list|info|prepare DATASET --root DIR
    spikeforge models [NAME]
    spikeforge datasets | losses | commands
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
:mod:`.analyze`, :mod:`.energy`, :mod:`.report`, :mod:`.memory`, :mod:`.listing` for ``datasets``/``losses``/
``commands``), each registering its command(s) in :mod:`spikeforge.command_registry` as a plug-in registers its own (the
reproduction study's ``reproduce`` is one: :mod:`spikeforge.reproduce.command`); the library never imports
this package (a test walks it).
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from collections.abc import Callable

from ..command_registry import COMMANDS, CommandInfo, add_command_parser, register_command

__all__ = ["COMMANDS", "CommandInfo", "build_parser", "main", "register_command"]


# ----------------------------------------------------------------------------- parser
def build_parser(
    only: str | None = None,
) -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    """The parser and a handler per registered command.

    Every command is listed (with its help); ``only`` names the one command whose arguments are added
    (the one being run: configuring e.g. ``analyze`` imports matplotlib), ``None`` configures all.
    """
    parser = argparse.ArgumentParser(prog="spikeforge", description="Train and analyse SNNs with learnable dynamics.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"spikeforge {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {}
    _register_commands()
    # built-ins in their registration order (train, eval, configs first), then the plug-ins'
    for name in COMMANDS.names(in_registration_order=True):
        add_command_parser(sub, name, configure=only is None or name == only)
        handlers[name] = COMMANDS.get(name).handler
    return parser, handlers


def _register_commands() -> None:
    """Import the command modules (each registers its command(s), in this order: that of ``--help``), then
    load the plug-ins, which may add theirs (done once per process)."""
    from . import train  # noqa: F401  isort: skip  (train, eval, configs first)
    from ..registry import load_plugins
    from . import analyze, data, energy, listing, memory, models, report  # noqa: F401

    load_plugins()


def _version() -> str:
    from .. import __version__

    return __version__


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
        _register_commands()
        parser, handlers = build_parser(only=command if command in COMMANDS else None)
    except ModuleNotFoundError as exc:  # an optional package the command's modules import (pyyaml, ...)
        missing = _missing_dependency(exc, command)
        if "--debug" in argv or missing is None:
            raise
        print(f"spikeforge: error: {missing}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        if COMMANDS.get(args.command).tunes_allocator:  # commands that train set the allocator up first
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
