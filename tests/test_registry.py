"""The one registry type: duplicates refused, lookups list the known names, built-ins collected lazily,
third-party packages register through the ``spikeforge.plugins`` entry-point group."""

from __future__ import annotations

import dataclasses
import sys
import textwrap

import pytest

from spikeforge import registry as reg
from spikeforge.errors import UserError


def test_duplicate_refused_and_replace_is_explicit():
    r: reg.Registry[int] = reg.Registry("widget")
    r.add("a", 1)
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        r.add("a", 2)
    r.add("a", 3, replace=True)
    assert r.get("a") == 3


def test_unknown_name_lists_known_ones():
    r: reg.Registry[int] = reg.Registry("widget")
    r.add("b", 1)
    r.add("a", 2)
    with pytest.raises(UserError, match=r"unknown widget 'c'; choose one of \['a', 'b'\]"):
        r.get("c")
    assert r.names() == ["a", "b"] and list(r) == ["a", "b"] and len(r) == 2 and "a" in r


def test_builtins_collected_once_on_first_lookup():
    calls = []
    r: reg.Registry[int] = reg.Registry("widget", builtins=lambda: (calls.append(1), r.add("x", 1)))
    assert calls == []
    assert r.get("x") == 1 and r.names() == ["x"]
    assert calls == [1]


@dataclasses.dataclass(frozen=True)
class _Opts:
    width: int = 4
    name: str = "n"

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")


def test_parse_options_typed():
    assert reg.parse_options("widget 'w'", _Opts, {"width": 2}) == _Opts(width=2)
    with pytest.raises(UserError, match=r"widget 'w' has no option \['depth'\]; allowed: \['name', 'width'\]"):
        reg.parse_options("widget 'w'", _Opts, {"depth": 1})
    with pytest.raises(UserError, match="widget 'w': width must be >= 1, got 0"):
        reg.parse_options("widget 'w'", _Opts, {"width": 0})
    assert reg.option_defaults(_Opts) == {"width": 4, "name": "n"}


def test_entry_point_plugin_is_loaded(tmp_path, monkeypatch):
    """A package installed with a ``spikeforge.plugins`` entry point is imported on load."""
    pkg = tmp_path / "sf_plugin_demo.py"
    pkg.write_text(
        textwrap.dedent(
            """
            LOADED = []
            def register():
                LOADED.append("yes")
            """
        )
    )
    dist = tmp_path / "sf_plugin_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sf-plugin-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[spikeforge.plugins]\ndemo = sf_plugin_demo:register\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "demo" in reg.load_plugins(again=True)
    assert sys.modules["sf_plugin_demo"].LOADED


def test_broken_plugin_names_its_package(tmp_path, monkeypatch):
    dist = tmp_path / "sf_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sf-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[spikeforge.plugins]\nbroken = sf_no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="spikeforge plugin 'broken' \\(package 'sf-broken'"):
        reg.load_plugins(again=True)
