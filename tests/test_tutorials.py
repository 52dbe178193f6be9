"""The tutorials in docs/tutorials/ run as written: their ```python blocks, in order, in a fresh folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "docs" / "tutorials").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path: Path) -> str:
    """The page's Python code blocks joined into one script (a blank line between blocks)."""
    return "\n\n".join(BLOCK.findall(path.read_text()))


def test_there_are_three_tutorials_with_code():
    assert len(TUTORIALS) == 3, [p.name for p in TUTORIALS]
    assert all(python_blocks(p).strip() for p in TUTORIALS)


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
        code = compile(python_blocks(path), str(path), "exec")
        exec(code, {"__name__": f"tutorial_{path.stem}"})
    finally:
        torch.set_num_threads(threads)
