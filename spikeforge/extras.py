"""Optional dependencies: which pip extra of SpikeForge brings each package, and the one error that says so.

The core (``pip install spikeforge``) is torch and NumPy: the neurons, layers, losses and models need nothing else.
Everything else comes with an extra (``pyproject.toml`` declares them; README "Dependencies and why" says why each
package earns its place)::

    pip install 'spikeforge[train]'    # the trainer and its CLI: configs, progress bars, the curves of each run
    pip install 'spikeforge[data]'     # the embedded digits / MNIST-1D datasets, SHD, ImageNet images
    pip install 'spikeforge[report]'   # spikeforge report / analyze: figures
    pip install 'spikeforge[all]'      # all of SpikeForge's own features

A feature that needs one calls :func:`require`, which imports the package or raises
:class:`~spikeforge.errors.MissingDependencyError` with one line naming the extra; the CLI turns any other
``ModuleNotFoundError`` of a package listed here into the same line (:func:`missing_dependency`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["OPTIONAL", "missing_dependency", "require"]

# import name -> (pip package, extra of spikeforge that installs it). One home: pyproject.toml's extras list the
# same packages (tests/test_light_import.py checks that each one is in the extra named here).
OPTIONAL: dict[str, tuple[str, str]] = {
    "yaml": ("pyyaml", "train"),
    "tqdm": ("tqdm", "train"),
    "matplotlib": ("matplotlib", "report"),
    "sklearn": ("scikit-learn", "data"),
    "h5py": ("h5py", "data"),
    "mnist1d": ("mnist1d", "data"),
    "PIL": ("pillow", "data"),
    "lz4": ("lz4", "aedat4"),
    "zstandard": ("zstandard", "aedat4"),
    "nir": ("nir", "nir"),
    "tonic": ("tonic", "tonic"),
}


def _message(module: str, feature: str) -> str:
    package, extra = OPTIONAL[module.partition(".")[0]]
    return f"{feature} needs the '{package}' package: pip install 'spikeforge[{extra}]' (or pip install {package})"


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` (e.g. ``"h5py"``, ``"lz4.frame"``) or raise :class:`MissingDependencyError` saying that
    ``feature`` (e.g. ``"reading SHD"``) needs it and which extra installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.partition(".")[0]
        if exc.name is None or exc.name.partition(".")[0] != top:
            raise  # the package is there but one of *its* imports is missing: its own error says more
        raise MissingDependencyError(_message(module, feature), name=top) from None


def missing_dependency(exc: BaseException, feature: str = "this command") -> MissingDependencyError | None:
    """The one-line :class:`MissingDependencyError` for ``exc`` when it is a ``ModuleNotFoundError`` of an optional
    package listed in :data:`OPTIONAL` (``None`` for anything else: a missing module of SpikeForge itself is a bug)."""
    if isinstance(exc, MissingDependencyError) or not isinstance(exc, ModuleNotFoundError) or exc.name is None:
        return None
    top = exc.name.partition(".")[0]
    if top not in OPTIONAL:
        return None
    return MissingDependencyError(_message(top, feature), name=top)
