"""Packaging: what a wheel carries, the version flag, shipped config names, the public API.

CI (.ci/run) also builds the wheel and runs it from a fresh virtual environment outside the checkout.
"""

from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path

import pytest

import spikeforge
from spikeforge.commands import main
from spikeforge.train.config import CONFIG_DIR, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_runtime_file_is_package_data():
    globs = _pyproject()["tool"]["setuptools"]["package-data"]["spikeforge"]
    tracked = subprocess.run(
        ["git", "ls-files", "spikeforge"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    runtime = [Path(p).relative_to("spikeforge").as_posix() for p in tracked if not p.endswith(".py")]
    assert "py.typed" in runtime and "configs/digits_imp_lts.yaml" in runtime
    # setuptools' '**/' also matches files at the top of the package
    missing = [
        f for f in runtime if not any(fnmatch.fnmatch(f, g) or fnmatch.fnmatch(f, g.removeprefix("**/")) for g in globs)
    ]
    assert not missing, f"not shipped in the wheel: {missing}"


def test_license_metadata_is_an_spdx_string_with_its_file():
    project = _pyproject()["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    requires = _pyproject()["build-system"]["requires"]
    assert any(r.startswith("setuptools>=") and int(r.split(">=")[1].split(".")[0]) >= 77 for r in requires)


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"spikeforge {spikeforge.__version__}"


def test_load_config_accepts_shipped_names():
    by_name = load_config("digits_imp_lts", ["epochs=2"])
    by_path = load_config(CONFIG_DIR / "digits_imp_lts.yaml", ["epochs=2"])
    assert by_name == by_path and by_name.epochs == 2
    assert load_config("digits_imp_lts.yaml") == load_config("digits_imp_lts")
    with pytest.raises(ConfigError, match="neither a file nor a shipped config"):
        load_config("no_such_config")


def test_public_api_names_resolve():
    for name in spikeforge.__all__:
        assert getattr(spikeforge, name) is not None, name
    assert callable(spikeforge.load_trained_model) and callable(spikeforge.register_model)


def test_run_bench_lists_the_benchmarks_and_rejects_unknown_names():
    res = subprocess.run(["bash", str(ROOT / "run"), "bench", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and "neuron" in res.stderr and "memory" in res.stderr
