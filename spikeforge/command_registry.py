"""The command registry: every ``spikeforge`` sub-command is one entry, built-in or contributed.

A command is a name, a one-line help, an argparse *configurator* (``configure(parser)`` adds the
command's arguments to its own sub-parser) and a *handler* (``handler(args) -> exit status``).
The built-in commands register with :func:`register_command` at the end of their module in
:mod:`spikeforge.commands`; a plug-in registers its own the same way (an explicit call, or from
its ``spikeforge.plugins`` entry point, see :mod:`spikeforge.registry`); the reproduction study's
``reproduce`` command is one (:mod:`spikeforge.reproduce.plugin`). For example::

    from spikeforge.command_registry import register_command

    def configure(parser):
        parser.add_argument("name")

    def hello(args):
        print(f"hello {args.name}")
        return 0

    register_command("hello", help="say hello", configure=configure, handler=hello)

A configurator runs only when its command is the one being run (or when a full parser is asked
for), so building one may import what it likes.

This module is part of the library, not of the command line (:mod:`spikeforge.commands`, which no
library module imports): a plug-in registers its command without importing the CLI.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

from .registry import Registry

__all__ = ["COMMANDS", "CommandInfo", "add_command_parser", "register_command"]


@dataclasses.dataclass(frozen=True)
class CommandInfo:
    """A registered ``spikeforge`` sub-command.

    Attributes:
        name: the sub-command (``spikeforge NAME ...``).
        help: one line, for ``spikeforge --help`` and ``spikeforge commands``.
        configure: adds the command's arguments to its sub-parser (``None``: it takes none).
        handler: runs the parsed command; returns the exit status.
        description: the sub-command's ``--help`` text (``None``: ``help``).
        tunes_allocator: the command trains, so the CLI sets the allocator up first
            (:func:`spikeforge.runtime.tune_allocator`).
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None] | None
    handler: Callable[[argparse.Namespace], int]
    description: str | None = None
    tunes_allocator: bool = False


# The built-in commands register when the CLI imports their modules, then it loads the plug-ins
# (spikeforge.commands.build_parser).
COMMANDS: Registry[CommandInfo] = Registry("command")


def register_command(
    name: str,
    *,
    help: str,
    handler: Callable[[argparse.Namespace], int],
    configure: Callable[[argparse.ArgumentParser], None] | None = None,
    description: str | None = None,
    tunes_allocator: bool = False,
    replace: bool = False,
) -> CommandInfo:
    """Register the ``spikeforge`` sub-command ``name`` (see the module docstring); a taken name raises
    ``ValueError`` unless ``replace=True``."""
    info = CommandInfo(name, help, configure, handler, description, tunes_allocator)
    return COMMANDS.add(name, info, replace=replace)


def add_command_parser(
    subparsers: argparse._SubParsersAction, name: str, *, configure: bool = True
) -> argparse.ArgumentParser:
    """Add the registered command ``name`` to ``subparsers`` (of ``spikeforge`` or of a parent CLI) and
    return its sub-parser; ``configure=False`` leaves its arguments out (a command not being run)."""
    info = COMMANDS.get(name)
    parser = subparsers.add_parser(name, help=info.help, description=info.description or info.help)
    if configure and info.configure is not None:
        info.configure(parser)
    return parser
