"""Simulated event digits: event-camera saccades over scikit-learn's 8x8 digits, in N-MNIST's format.

The neuromorphic default that needs no download (see :mod:`spikeforge.data.simulate` for the
simulation). Generated once into ``root`` (default ``~/.cache/spikeforge/sim_event_digits``, or
``$SPIKEFORGE_CACHE_DIR/sim_event_digits``) and read back with the N-MNIST reader; 1437 train /
360 test samples, items ``[T, 2, 34, 34]``.
"""

from __future__ import annotations

import dataclasses
import os

from torch.utils.data import Dataset

from ..events import FrameOptions, build_event_dataset
from ..registry import DatasetInfo, Layout
from ..simulate import ensure_event_digits
from ._layout import describe
from .nmnist import SENSOR, nmnist_samples, read_nmnist

__all__ = ["DATASETS", "SimDigitsOptions", "sim_event_digits"]


@dataclasses.dataclass(frozen=True)
class SimDigitsOptions(FrameOptions):
    """:class:`FrameOptions` with ``cache=False``: integrating a 34x34 recording costs no more than
    loading a cached frame."""

    cache: bool = False


def sim_event_digits(root: str | None, split: str, T: int, options: FrameOptions) -> Dataset:
    """Simulated N-MNIST-like recordings of the 1797 sklearn digits (1437 train / 360 test)."""
    root = os.fspath(ensure_event_digits(root))
    samples = nmnist_samples(root, split, "sim_event_digits")
    return build_event_dataset("sim_event_digits", root, split, T, options, samples, read_nmnist, SENSOR)


LAYOUT = Layout(
    "generated on first use (no download): ROOT/{Train,Test}/<digit>/<id>.bin + sim_event_digits.json",
    """ROOT/                      (default ~/.cache/spikeforge/sim_event_digits)
  Train/<digit>/<id>.bin     1437 simulated recordings in N-MNIST format
  Test/<digit>/<id>.bin      360
  sim_event_digits.json      simulation parameters and event statistics""",
    lambda root, split: describe(nmnist_samples(root, split, "sim_event_digits")),
)

DATASETS = (
    DatasetInfo(
        "sim_event_digits",
        "sequence",
        10,
        sim_event_digits,
        needs_root=False,
        description="simulated event-camera saccades over sklearn's 8x8 digits, N-MNIST format: items [T, 2, 34, 34]",
        options_type=SimDigitsOptions,
        default_T=10,
        layout=LAYOUT,
    ),
)
