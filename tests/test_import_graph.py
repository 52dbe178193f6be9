"""The package's import graph: rooms (the top-level modules and subpackages of ``spikeforge``) on floors, every
arrow pointing down or sideways within a floor, no circle, and nothing but the study importing the study.

Every import counts: relative or absolute, at module level or inside a function (a lazy import still makes
the lower room depend on the upper one). To move a room, edit :data:`FLOORS`, the one table of the layering.
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import spikeforge

PACKAGE = Path(spikeforge.__file__).parent

#: bottom first; a room may import its own floor's rooms and the floors below, never one above
FLOORS: list[set[str]] = [
    {"errors", "registry", "extras", "records", "runtime", "timelayout", "device", "distributed", "command_registry"},
    {"neuron"},
    {"layers", "encoding", "losses"},
    {"models", "data"},
    {"memory", "export"},
    {"monitor"},
    {"train"},
    {"analysis", "report"},
    {"reproduce"},
    {"commands", "__main__", "__init__"},
]


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    """Absolute names of the ``spikeforge`` modules (or names in them) that ``path`` imports."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    # the package itself is left out: ``from .. import records`` names ``records``, and every submodule import
    # runs the (light, lazy) ``spikeforge/__init__.py`` anyway
    return {name for name in found if name.startswith("spikeforge.")}


def _rooms() -> set[str]:
    return {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}


def room_graph() -> dict[str, set[str]]:
    """``room -> rooms it imports`` (arrows inside a room left out)."""
    rooms = _rooms()
    graph: dict[str, set[str]] = collections.defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        src = _room(".".join(rel.parts))
        for name in _imports(path):
            dst = _room(name)
            if dst in rooms and dst != src:
                graph[src].add(dst)
    return graph


def test_every_room_is_on_a_floor():
    placed = set().union(*FLOORS)
    assert not (_rooms() - placed), f"rooms on no floor (add them to FLOORS): {sorted(_rooms() - placed)}"


def test_no_arrow_runs_back_up():
    floor = {room: i for i, rooms in enumerate(FLOORS) for room in rooms}
    upward = sorted(
        f"{src} (floor {floor[src]}) -> {dst} (floor {floor[dst]})"
        for src, dsts in room_graph().items()
        for dst in dsts
        if floor.get(dst, -1) > floor.get(src, -1)
    )
    assert not upward, "imports running back up the floors:\n  " + "\n  ".join(upward)


def test_no_circle():
    graph = room_graph()
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(room: str) -> list[str] | None:
        seen[room] = 1
        path.append(room)
        for nxt in sorted(graph.get(room, ())):
            if seen.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in seen and (cycle := visit(nxt)):
                return cycle
        seen[room] = 2
        path.pop()
        return None

    for room in sorted(graph):
        if room not in seen:
            cycle = visit(room)
            assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_only_the_study_imports_the_study():
    importers = sorted(src for src, dsts in room_graph().items() if "reproduce" in dsts)
    assert importers == [], f"modules outside spikeforge/reproduce import it: {importers}"


def test_the_checks_see_a_violation(tmp_path, monkeypatch):
    """The graph is read from the files: an upward import written into a copy is found (the test can fail)."""
    fake = tmp_path / "spikeforge"
    (fake / "neuron").mkdir(parents=True)
    (fake / "train").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "neuron" / "__init__.py").write_text("def f():\n    from ..train import engine\n")
    (fake / "train" / "__init__.py").write_text("from ..neuron import f\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", fake)
    graph = room_graph()
    assert graph["neuron"] == {"train"} and graph["train"] == {"neuron"}
