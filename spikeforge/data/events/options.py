"""The options every event-camera dataset takes (``data.options`` in a config) and the one place they take effect.

:class:`FrameOptions` is one frozen dataclass; :func:`build_event_dataset`, which every
event-camera dataset module calls with its samples, reader and sensor size, applies it. A new
option is one field here plus its use in :func:`build_event_dataset`, in this module only: every
event-camera dataset (``nmnist``, ``ncaltech101``, ``dvs128_gesture``, ``cifar10_dvs``,
``sim_event_digits``) then accepts it, ``spikeforge data list/info`` shows it and configs are
checked against it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

from torch.utils.data import Dataset

from ..augment import POLICIES, FrameAugment
from .dataset import EventSample, EventStreamDataset, FrameSource, FrameSpec, build_event_frames
from .frames import RESIZE_MODES, SPLIT_BY
from .stream import Events

__all__ = ["FrameOptions", "as_size", "build_event_dataset"]

# Options that do not change the cached frames: applied when a frame is read (binary, augment,
# policy), where the cache lives and who builds it, or raw events that bypass the cache; and
# those the frame spec already keys (split_by, size, resize_mode). Every other option, a new one
# included, is part of the frame cache's key, so a changed value never serves stale frames.
_NOT_IN_CACHE_KEY = frozenset(
    {"binary", "augment", "policy", "cache", "cache_dir", "workers", "events", "transform"}
    | {"split_by", "size", "resize_mode"}
)


@dataclasses.dataclass(frozen=True)
class FrameOptions:
    """How a split of an event-camera dataset is served.

    Attributes:
        split_by: how a recording is cut into ``T`` frames: ``"number"`` (equal event counts per
            frame: choose it when the event rate varies a lot between samples, as in CIFAR10-DVS
            and N-Caltech101) or ``"time"`` (equal durations: choose it when timing carries
            information, as in gestures). SpikingJelly's semantics, see :mod:`.frames`.
        size: resize frames to ``size x size`` (an int) or ``(H, W)``; ``None`` keeps the sensor
            size. Stored as ``(H, W)``.
        resize_mode: ``"area"`` (averages, skips no events), ``"bilinear"`` (torchvision
            ``Resize`` without antialiasing, as the TET/IMP 48x48 code) or ``"nearest"``.
        binary: 1 where a pixel saw any event in a frame, instead of counts.
        augment: augment the train split (never the test split) with ``policy``.
        policy: ``"flip"``, ``"crop_flip"`` or ``"dvs"`` (see :mod:`spikeforge.data.augment`).
        cache: integrate frames once into ``cache_dir`` and read them from there afterwards.
        cache_dir: where the frame cache lives (``None``: ``ROOT/.spikeforge_cache``).
        workers: processes that build the cache (``None``: one per CPU, at most 8; ``<= 1``: none).
        events: serve raw events instead of frames: ``x`` is a Tonic-style structured array
            with fields ``x, y, t, p`` (see :mod:`spikeforge.data.tonic`); no cache, no resizing.
        transform: a callable applied to those raw events (e.g. a ``tonic.transforms.Compose``
            ending in ``ToFrame``); implies ``events``. A NumPy array it returns becomes a float32
            tensor. Python API only (a YAML config cannot hold a callable).
    """

    split_by: str = "number"
    size: int | Sequence[int] | None = None
    resize_mode: str = "area"
    binary: bool = False
    augment: bool = False
    policy: str = "crop_flip"
    cache: bool = True
    cache_dir: str | None = None
    workers: int | None = None
    events: bool = False
    transform: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if self.split_by not in SPLIT_BY:
            raise ValueError(f"split_by must be one of {SPLIT_BY}, got {self.split_by!r}")
        object.__setattr__(self, "size", as_size(self.size))
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {self.resize_mode!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        for name in ("binary", "augment", "cache", "events"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)):
            raise ValueError(f"workers must be an integer or null, got {self.workers!r}")
        if self.transform is not None and not callable(self.transform):
            raise ValueError(f"transform must be callable, got {type(self.transform).__name__}")

    @property
    def raw_events(self) -> bool:
        """Whether items are raw events (``events`` or a ``transform``) rather than frames."""
        return self.events or self.transform is not None


def as_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """Option value -> ``(H, W)``: ``48`` means 48x48."""
    if size is None:
        return None
    if isinstance(size, bool):
        raise ValueError(f"size must be a positive int or [H, W], got {size!r}")
    if isinstance(size, int):
        size = (size, size)
    try:
        out = tuple(int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be a positive int or [H, W], got {size!r}") from None
    if len(out) != 2 or min(out) < 1:
        raise ValueError(f"size must be a positive int or [H, W], got {size!r}")
    return out  # type: ignore[return-value]


def build_event_dataset(
    name: str,
    root: str | os.PathLike[str],
    split: str,
    T: int,
    options: FrameOptions,
    samples: Sequence[EventSample],
    read: Callable[[str], Events],
    sensor: tuple[int, int],
) -> Dataset:
    """A split of an event-camera dataset as ``options`` ask for it (the one place the options take effect).

    Args:
        name: registry name (cache folder, progress bar).
        root: the dataset folder (the cache lives under it by default).
        split: ``"train"`` or ``"test"``.
        T: number of frames.
        options: the user's options.
        samples: the split's samples.
        read: ``path -> Events`` (picklable).
        sensor: ``(height, width)``.
    """
    spec = FrameSpec(T, options.split_by, sensor[0], sensor[1], options.size, options.resize_mode)
    if options.raw_events:
        return EventStreamDataset(FrameSource(samples, read, spec), options.transform)
    augmenter = FrameAugment(options.policy) if options.augment else None
    return build_event_frames(
        name,
        root,
        split,
        samples,
        read,
        spec,
        transform=augmenter if split == "train" else None,
        binary=options.binary,
        cache=options.cache,
        cache_dir=options.cache_dir,
        workers=options.workers,
        key={f.name: getattr(options, f.name) for f in dataclasses.fields(options) if f.name not in _NOT_IN_CACHE_KEY},
    )
