"""The tutorials in docs/tutorials/ run as written: their ```python blocks, in order, in a fresh folder."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "docs" / "tutorials").glob("*.md"))
# A block may be preceded by `<!-- requires: module ... -->`: it runs only where those modules import.
BLOCK = re.compile(r"(?:^<!-- requires: ([^>]*?) -->\n)?^```python\n(.*?)^```", re.S | re.M)


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def python_blocks(path: Path) -> tuple[str, list[str]]:
    """The page's runnable Python blocks joined into one script, and the modules whose absence left blocks out."""
    code, missing = [], []
    for requires, block in BLOCK.findall(path.read_text()):
        absent = [m for m in requires.split() if not _importable(m)]
        if absent:
            missing += absent
        else:
            code.append(block)
    return "\n\n".join(code), sorted(set(missing))


def test_there_are_three_tutorials_with_code():
    assert len(TUTORIALS) == 3, [p.name for p in TUTORIALS]
    assert all(python_blocks(p)[0].strip() for p in TUTORIALS)


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(path, tmp_path, monkeypatch):
    import matplotlib
    import torch

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        script, missing = python_blocks(path)
        exec(compile(script, str(path), "exec"), {"__name__": f"tutorial_{path.stem}"})
    finally:
        torch.set_num_threads(threads)
    if missing:
        pytest.skip(f"ran the page except the blocks that need {missing}")
