"""``spikeforge datasets``, ``spikeforge losses`` and ``spikeforge commands``: what is registered.

One table printer (:func:`print_table`) for every listing, ``spikeforge models`` and ``spikeforge
data list`` too: a row per registered name, its columns aligned, a closing line with the count.
The lists include what plug-ins registered (:mod:`spikeforge.registry`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..command_registry import COMMANDS, register_command

__all__ = ["list_commands", "list_datasets", "list_losses", "print_table"]


def print_table(rows: Sequence[Sequence[str]], closing: str) -> None:
    """Print ``rows`` with every column but the last padded to its widest cell (two spaces between
    columns), then ``closing`` (e.g. ``"16 models; ..."``)."""
    if rows:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            print("  ".join([*cells, row[-1]]).rstrip())
    print(closing)


def list_datasets() -> int:
    """``spikeforge datasets`` (and ``spikeforge data list``): name, kind, classes, files, description."""
    from ..data.registry import DATASETS

    rows = [
        (
            name,
            info.kind,
            f"{info.num_classes:5d} classes",
            "needs --root" if info.needs_root else "no download",
            info.description,
        )
        for name, info in DATASETS.items()
    ]
    print_table(rows, f"{len(rows)} datasets; `spikeforge data info NAME` shows one dataset's options and layout")
    return 0


def list_losses() -> int:
    """``spikeforge losses``: name, readout, options with their defaults, description."""
    from ..losses import LOSSES, loss_names
    from ..registry import option_defaults

    rows = []
    for name in loss_names():
        info = LOSSES.get(name)
        options = ", ".join(f"{k}={v!r}" for k, v in option_defaults(info.options_type).items()) or "(no options)"
        rows.append((name, f"readout {info.readout}", options, info.description))
    print_table(rows, f"{len(rows)} losses; a config names one as loss.name, its options as loss.options")
    return 0


def list_commands() -> int:
    """``spikeforge commands``: every registered sub-command with its help, plug-ins' included."""
    rows = [(name, COMMANDS.get(name).help) for name in COMMANDS.names(in_registration_order=True)]
    print_table(rows, f"{len(rows)} commands; `spikeforge COMMAND --help` shows one command's arguments")
    return 0


register_command(
    "datasets",
    help="list the registered datasets (as `spikeforge data list`)",
    handler=lambda args: list_datasets(),
)
register_command(
    "losses",
    help="list the registered losses, their readout and options",
    handler=lambda args: list_losses(),
)
register_command(
    "commands",
    help="list the registered commands, plug-ins' included",
    handler=lambda args: list_commands(),
)
