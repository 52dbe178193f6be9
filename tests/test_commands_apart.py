"""The command line lives apart: no library module imports ``spikeforge.commands`` (or the old ``cli`` modules).

The library is what users import (``spikeforge.LIFNode``, ``spikeforge.train.config``); the commands are one
consumer of it among others. A library module that reaches into the CLI drags argparse and every command's
imports into user code, and makes the CLI a second home for library knowledge (config paths, error rules).
"""

from __future__ import annotations

import ast
from pathlib import Path

import spikeforge

PACKAGE = Path(spikeforge.__file__).parent
COMMANDS = PACKAGE / "commands"
ENTRY_POINT = PACKAGE / "__main__.py"  # ``python -m spikeforge``: the command itself, not the library


def _module_name(path: Path) -> list[str]:
    """``spikeforge/train/config.py`` -> ``["spikeforge", "train", "config"]`` (an ``__init__``: its package)."""
    parts = ["spikeforge", *path.relative_to(PACKAGE).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in ``path`` (or in ``source`` read as if it were the module
    at ``path``), relative ones resolved; ``from X import Y`` yields both ``X`` and ``X.Y`` (``Y`` may be a
    submodule, e.g. ``from .analysis import cli``)."""
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _is_command_module(name: str) -> bool:
    parts = name.split(".")
    if parts[0] != "spikeforge":
        return False
    return parts[1:2] == ["commands"] or parts[-1] == "cli"


def test_the_walk_sees_relative_and_absolute_imports():
    """The checker itself: the forms a library module could use to reach the commands are all caught."""
    where = PACKAGE / "analysis" / "sweep.py"  # only its location is used, to resolve the relative imports
    sources = {
        "from ..commands import main": True,
        "from .. import commands": True,
        "from ..commands.train import cmd_train": True,
        "import spikeforge.commands": True,
        "from spikeforge.commands import main": True,
        "from ..cli import resolve_config_path": True,
        "from . import cli": True,
        "from ..train.config import resolve_config_path": False,
        "import argparse": False,
    }
    for source, forbidden in sources.items():
        names = [name for _, name in _imported_modules(where, source)]
        assert any(_is_command_module(n) for n in names) is forbidden, (source, names)


def test_no_library_module_imports_the_commands():
    modules = [p for p in sorted(PACKAGE.rglob("*.py")) if COMMANDS not in p.parents and p != ENTRY_POINT]
    assert len(modules) > 50, "the walk found too few modules: is PACKAGE right?"
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in modules
        for line, name in _imported_modules(path)
        if _is_command_module(name)
    ]
    assert not offenders, "library modules must not import the CLI:\n" + "\n".join(offenders)


def test_the_old_cli_modules_are_gone():
    """One home for the commands: the ``cli`` modules moved to ``spikeforge/commands/``."""
    assert not sorted(PACKAGE.rglob("cli.py"))
    assert (COMMANDS / "__init__.py").is_file()
