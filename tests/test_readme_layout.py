"""The README's Layout section is the generator's output: every module of the tree is listed, none invented."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("readme_layout", ROOT / "tools" / "readme_layout.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("readme_layout", module)
    spec.loader.exec_module(module)
    return module


def test_readme_layout_is_generated_from_the_tree():
    layout = _generator()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = readme.find(layout.BEGIN), readme.find(layout.END)
    assert start >= 0 and end > start, "README.md has no layout markers; run `python tools/readme_layout.py --write`"
    assert readme[start : end + len(layout.END)] == layout.block(), (
        "README.md's Layout section is out of date with the tree; run `python tools/readme_layout.py --write`"
    )


def test_every_module_is_listed():
    layout = _generator()
    text = layout.block()
    for path in sorted((ROOT / "spikeforge").rglob("*.py")):
        if path.name.startswith("_") and path.name != "__main__.py":
            continue
        assert f" {path.name}" in text, f"{path.relative_to(ROOT)} missing from the layout block"


def test_summary_is_the_docstring_first_line(tmp_path):
    layout = _generator()
    module = tmp_path / "m.py"
    module.write_text('"""Convergence (Shen et al. Fig 5). More on this line.\n\nDetails."""\n', encoding="utf-8")
    assert layout.summary(module) == "Convergence (Shen et al. Fig 5). More on this line."
    long = layout.line("  ", "m.py", "x" * 300)
    assert len(long) == layout.WIDTH and long.endswith("...")
