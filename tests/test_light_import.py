"""A light core: ``import spikeforge`` for neurons and losses loads neither the trainer nor the heavy optional packages;
the public names still resolve (PEP 562); a missing optional package and a too-old torch each say in one line what
to install; the library installs no logging handler.
"""

from __future__ import annotations

import json
import logging
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import spikeforge
from spikeforge import extras
from spikeforge.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("matplotlib", "sklearn", "h5py", "mnist1d", "spikeforge.train", "spikeforge.reproduce.study")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)


def _modules_after(statement: str) -> set[str]:
    proc = _python(f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))")
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def _loaded(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


@pytest.mark.parametrize(
    "statement",
    [
        "import spikeforge",
        "import spikeforge; import spikeforge.neuron, spikeforge.losses",
        "import torch\nfrom spikeforge import LIFNode, losses\nLIFNode()(torch.rand(2, 3, 4))",
        "import spikeforge.models, spikeforge.data, spikeforge.layers, spikeforge.encoding",
    ],
)
def test_the_core_loads_neither_the_trainer_nor_heavy_packages(statement):
    modules = _modules_after(statement)
    assert "torch" in modules  # the check itself sees what is imported
    loaded = [name for name in HEAVY if _loaded(modules, name)]
    assert not loaded, f"`{statement}` imported {loaded}"


def test_import_spikeforge_alone_loads_no_submodule():
    modules = _modules_after("import spikeforge")
    assert {m for m in modules if m.startswith("spikeforge.")} == set()


def test_each_public_name_resolves_to_its_home_and_is_listed():
    code = (
        "import spikeforge, importlib\n"
        "for name, where in spikeforge._PUBLIC.items():\n"
        "    value = getattr(spikeforge, name)\n"
        "    home = importlib.import_module(f'spikeforge.{name}' if where is None else 'spikeforge' + where)\n"
        "    assert value is (home if where is None else getattr(home, name)), name\n"
        "    assert name in spikeforge.__all__ and name in dir(spikeforge), name\n"
        "from spikeforge import load_config, load_trained_model, export_nir, LIFNode, TimeLayoutError\n"
        "print(len(spikeforge._PUBLIC))\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) == len(spikeforge.__all__) - 1  # all but __version__
    assert spikeforge.load_config is __import__("spikeforge.train.config").train.config.load_config


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'LIFNodee'"):
        spikeforge.LIFNodee
    with pytest.raises(ImportError, match="cannot import name 'nope'"):
        exec("from spikeforge import nope", {})


# ----------------------------------------------------------------------------- torch floor
@pytest.mark.parametrize(("version", "ok"), [("2.3.1", False), ("1.13.0+cpu", False), ("2.4.0", True)])
def test_an_older_torch_fails_at_import_in_one_line(version, ok):
    proc = _python(f"import torch\ntorch.__version__ = {version!r}\nimport spikeforge\nprint('imported')")
    floor = ".".join(map(str, spikeforge.TORCH_FLOOR))
    if ok:
        assert proc.returncode == 0 and proc.stdout.strip() == "imported", proc.stderr
        return
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"ImportError: spikeforge needs torch>={floor}, found torch {version}: pip install 'torch>={floor}'"
    )


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_pyproject_states_the_same_torch_floor():
    floor = ".".join(map(str, spikeforge.TORCH_FLOOR))
    assert f"torch>={floor}" in _pyproject()["project"]["dependencies"]


# ----------------------------------------------------------------------------- extras
def test_each_optional_package_is_in_the_extra_its_error_names():
    project = _pyproject()["project"]
    core = {d.split(">")[0].split("=")[0] for d in project["dependencies"]}
    assert core == {"torch", "numpy"}
    extras_table = project["optional-dependencies"]
    for module, (package, extra) in extras.OPTIONAL.items():
        names = {d.split(">")[0].split("=")[0].split("[")[0] for d in extras_table[extra]}
        assert package in names, f"{module}: {package} is not in the '{extra}' extra"
    # ./run installs [dev]: it must bring every extra the default job and the tests need
    assert "spikeforge[all,docs]" in extras_table["dev"]
    assert extras_table["all"] == ["spikeforge[train,data,report,aedat4,nir]"]


def test_require_names_the_extra_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` raise ModuleNotFoundError
    with pytest.raises(MissingDependencyError) as info:
        extras.require("h5py", "reading SHD")
    expected = "reading SHD needs the 'h5py' package: pip install 'spikeforge[data]' (or pip install h5py)"
    assert str(info.value) == expected
    assert info.value.name == "h5py" and isinstance(info.value, ModuleNotFoundError)


def test_reading_shd_without_h5py_says_which_extra(monkeypatch, tmp_path):
    from spikeforge.data.formats.hdf5_spikes import read_spike_h5

    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'spikeforge\[data\]'"):
        read_spike_h5(tmp_path / "shd_train.h5", n_units=700, n_classes=20)


def test_missing_dependency_leaves_other_errors_alone():
    assert extras.missing_dependency(ModuleNotFoundError("x", name="spikeforge.nope")) is None
    assert extras.missing_dependency(ValueError("x")) is None
    err = extras.missing_dependency(ModuleNotFoundError("x", name="matplotlib.pyplot"), "spikeforge report")
    assert str(err) == (
        "spikeforge report needs the 'matplotlib' package: pip install 'spikeforge[report]' (or pip install matplotlib)"
    )


def test_the_cli_without_pyyaml_prints_one_line_naming_the_extra():
    code = (
        "import sys\n"
        "sys.modules['yaml'] = None\n"
        "from spikeforge.commands import main\n"
        "sys.exit(main(['train', '--set', 'epochs=1']))\n"
    )
    proc = _python(code)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "spikeforge: error: spikeforge train needs the 'pyyaml' package: pip install 'spikeforge[train]' "
        "(or pip install pyyaml)"
    )


def test_a_lazy_name_without_its_extra_says_which(monkeypatch):
    proc = _python("import sys\nsys.modules['yaml'] = None\nfrom spikeforge import load_config")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "spikeforge.errors.MissingDependencyError: spikeforge.load_config needs the 'pyyaml' package: "
        "pip install 'spikeforge[train]' (or pip install pyyaml)"
    )


# ----------------------------------------------------------------------------- logging
def test_no_library_module_installs_a_handler():
    """Every module of the library imported: no ``spikeforge*`` logger has a handler or stops propagation."""
    names = [
        m.name
        for m in pkgutil.walk_packages(spikeforge.__path__, "spikeforge.")
        if ".commands" not in m.name and "triton" not in m.name and not m.name.endswith("__main__")
    ]
    code = (
        "import importlib, json, logging\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError:\n"  # an optional package (nir, ...) not installed here
        "        pass\n"
        "loggers = [n for n in logging.root.manager.loggerDict if n.startswith('spikeforge')]\n"
        "bad = [n for n in loggers if isinstance(logging.getLogger(n), logging.Logger)\n"
        "       and (logging.getLogger(n).handlers or not logging.getLogger(n).propagate)]\n"
        "print(json.dumps([len(loggers), bad]))\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    count, bad = json.loads(proc.stdout.strip().splitlines()[-1])
    assert count >= 2 and bad == []


def test_the_neuron_lines_reach_the_applications_handler(monkeypatch):
    """With logging configured, the backend line goes through the application's handler (propagation), once."""
    from spikeforge.neuron import log

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    monkeypatch.setattr(log, "_said", set())
    logging.getLogger().addHandler(handler)
    try:
        log.once(("k",), logging.INFO, "backend %s", "cpu")
        log.once(("k",), logging.INFO, "backend %s", "cpu")
    finally:
        logging.getLogger().removeHandler(handler)
    assert [(r.name, r.getMessage()) for r in records] == [("spikeforge.neuron", "backend cpu")]


def test_the_cli_configures_logging_in_main(capsys):
    from spikeforge.commands import main

    logger = logging.getLogger("spikeforge")
    before, level = list(logger.handlers), logger.level
    try:
        assert main(["configs"]) == 0
        assert len(logger.handlers) == 1 and logger.propagate
        main(["configs"])
        assert len(logger.handlers) == 1  # once per process
        logging.getLogger("spikeforge.data.simulate").info("hello")
        assert capsys.readouterr().err.endswith("[spikeforge] hello\n")
    finally:
        for h in logger.handlers[len(before) :]:
            logger.removeHandler(h)
        logger.setLevel(level)
