"""A torch Dataset of event recordings integrated into frames, with an optional frame cache.

:class:`FrameSource` turns sample ``i`` into frames (read the file, cut the sample's time
window, integrate, resize); :class:`EventFrameDataset` serves them, from the cache when one is
given, as ``(x float32 [T, 2, H, W], y int)``; :func:`fill_cache` builds the cache once, in
parallel, with a progress bar.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import torch
from torch.utils.data import Dataset

from .cache import FrameCache, default_cache_root
from .eventdata import Events
from .frames import SPLIT_BY, events_to_frames, resize_frames

__all__ = [
    "EventFrameDataset",
    "EventSample",
    "FrameSource",
    "FrameSpec",
    "as_size",
    "build_event_frames",
    "fill_cache",
]

# Below this many samples to build, starting worker processes costs more than it saves.
_PARALLEL_MIN_SAMPLES = 64


@dataclasses.dataclass(frozen=True)
class EventSample:
    """One labelled sample: a file, or a time window ``[start, end)`` us of a longer recording."""

    path: str
    label: int
    window: tuple[int, int] | None = None


@dataclasses.dataclass(frozen=True)
class FrameSpec:
    """How events become frames.

    Attributes:
        T: number of frames.
        split_by: ``"number"`` or ``"time"`` (see :mod:`spikeforge.data.frames`).
        height, width: sensor size.
        size: output ``(H, W)`` after resizing, or ``None`` for the sensor size.
        resize_mode: ``"area"``, ``"bilinear"`` or ``"nearest"``.
    """

    T: int
    split_by: str
    height: int
    width: int
    size: tuple[int, int] | None = None
    resize_mode: str = "area"

    def __post_init__(self) -> None:
        if not isinstance(self.T, int) or self.T < 1:
            raise ValueError(f"T must be a positive integer, got {self.T!r}")
        if self.split_by not in SPLIT_BY:
            raise ValueError(f"split_by must be one of {SPLIT_BY}, got {self.split_by!r}")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            raise ValueError(f"size must be a positive int or (H, W), got {self.size!r}")
        if self.resize_mode not in ("area", "bilinear", "nearest"):
            raise ValueError(f"resize_mode must be 'area', 'bilinear' or 'nearest', got {self.resize_mode!r}")

    @property
    def out_hw(self) -> tuple[int, int]:
        return self.size or (self.height, self.width)


class FrameSource:
    """Computes the frames of each sample from its source file.

    Args:
        samples: the split's samples.
        read: ``path -> Events`` (picklable: a module-level function or ``functools.partial``).
        spec: frame parameters.
    """

    def __init__(self, samples: Sequence[EventSample], read: Callable[[str], Events], spec: FrameSpec) -> None:
        self.samples = list(samples)
        self.read = read
        self.spec = spec
        self._memo: tuple[str, Events] | None = None  # last recording read (gesture files hold ~10 samples)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_memo": None}

    def events(self, i: int) -> Events:
        sample = self.samples[i]
        if self._memo is not None and self._memo[0] == sample.path:
            events = self._memo[1]
        else:
            events = self.read(sample.path)
            if sample.window is not None:
                self._memo = (sample.path, events)
        return events if sample.window is None else events.window(*sample.window)

    def frames(self, i: int) -> np.ndarray:
        """``float32 [T, 2, H, W]`` frames of sample ``i`` (resized if the spec says so)."""
        s = self.spec
        frames = events_to_frames(self.events(i), s.T, s.split_by, s.height, s.width)
        if s.size is not None:
            frames = resize_frames(torch.from_numpy(frames), s.size, s.resize_mode).numpy()
        return frames

    def signature(self, root: str | os.PathLike[str]) -> list[str]:
        """One line per sample that changes when its source file or label does (for the cache key)."""
        stats: dict[str, str] = {}
        lines = []
        for sample in self.samples:
            if sample.path not in stats:
                st = os.stat(sample.path)
                stats[sample.path] = f"{os.path.relpath(sample.path, root)}|{st.st_size}|{st.st_mtime_ns}"
            lines.append(f"{stats[sample.path]}|{sample.label}|{sample.window}")
        return lines


_WORKER_STATE: tuple[FrameSource, FrameCache] | None = None


def _init_worker(source: FrameSource, cache: FrameCache) -> None:
    global _WORKER_STATE
    torch.set_num_threads(1)  # one process per core already
    _WORKER_STATE = (source, cache)


def _fill_chunk(indices: list[int]) -> int:
    assert _WORKER_STATE is not None
    return _fill_serial(*_WORKER_STATE, indices)


def _fill_serial(source: FrameSource, cache: FrameCache, indices: list[int]) -> int:
    for i in indices:
        cache.save(i, source.frames(i))
    return len(indices)


def _chunks(source: FrameSource, indices: list[int], target: int = 32) -> list[list[int]]:
    """Split ``indices`` into chunks of about ``target``, never splitting one recording's samples."""
    by_path: dict[str, list[int]] = {}
    for i in indices:
        by_path.setdefault(source.samples[i].path, []).append(i)
    chunks, current = [], []
    for group in by_path.values():
        current.extend(group)
        if len(current) >= target:
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


def fill_cache(
    source: FrameSource, cache: FrameCache, *, workers: int | None = None, desc: str = "frames", progress: bool = True
) -> int:
    """Compute and store the frames ``cache`` lacks; returns how many were built.

    Args:
        source: computes frames.
        cache: where they go.
        workers: processes (``None``: one per CPU, at most 8; ``<= 1``: in this process).
        desc: progress bar label.
        progress: show a tqdm progress bar (on stderr).
    """
    from tqdm.auto import tqdm

    todo = cache.missing()
    if todo:
        workers = min(os.cpu_count() or 1, 8) if workers is None else workers
        chunks = _chunks(source, todo)
        with tqdm(total=len(todo), desc=desc, unit="sample", disable=not progress) as bar:
            if workers <= 1 or len(chunks) == 1 or len(todo) < _PARALLEL_MIN_SAMPLES:
                for chunk in chunks:
                    bar.update(_fill_serial(source, cache, chunk))
            else:
                # forkserver/spawn, not fork: forking a process that already runs torch/tqdm threads can deadlock.
                method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
                ctx = multiprocessing.get_context(method)
                with ProcessPoolExecutor(
                    min(workers, len(chunks)), mp_context=ctx, initializer=_init_worker, initargs=(source, cache)
                ) as pool:
                    futures = [pool.submit(_fill_chunk, chunk) for chunk in chunks]
                    try:
                        for future in as_completed(futures):
                            bar.update(future.result())
                    except BaseException:
                        for future in futures:
                            future.cancel()
                        raise
    cache.mark_complete({"T": source.spec.T, "split_by": source.spec.split_by, "size": source.spec.out_hw})
    return len(todo)


class EventFrameDataset(Dataset):
    """Items ``(x, y)``: ``x`` float32 ``[T, 2, H, W]`` frames, ``y`` int class.

    Args:
        source: computes frames (and knows the labels).
        cache: serve frames from here (filled beforehand by :func:`fill_cache`), or ``None``.
        transform: applied to ``x`` after loading (augmentation), or ``None``.
        binary: replace counts by 1 where a pixel saw any event in that frame.
    """

    def __init__(
        self,
        source: FrameSource,
        cache: FrameCache | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        binary: bool = False,
    ) -> None:
        self.source, self.cache, self.transform, self.binary = source, cache, transform, binary

    def __len__(self) -> int:
        return len(self.source.samples)

    @property
    def targets(self) -> list[int]:
        return [s.label for s in self.source.samples]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        frames = self.cache.load(i) if self.cache is not None else self.source.frames(i)
        x = torch.from_numpy(frames)
        if self.binary:
            x = (x > 0).to(torch.float32)
        if self.transform is not None:
            x = self.transform(x)
        return x, self.source.samples[i].label


def build_event_frames(
    name: str,
    root: str | os.PathLike[str],
    split: str,
    samples: Sequence[EventSample],
    read: Callable[[str], Events],
    spec: FrameSpec,
    *,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    binary: bool = False,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> EventFrameDataset:
    """Assemble an :class:`EventFrameDataset`, building its frame cache first when ``cache``."""
    source = FrameSource(samples, read, spec)
    frame_cache = None
    if cache:
        params = {
            "dataset": name,
            "split": split,
            "T": spec.T,
            "split_by": spec.split_by,
            "size": None if spec.size is None else list(spec.size),
            "resize_mode": spec.resize_mode if spec.size is not None else None,
            "sensor": [spec.height, spec.width],
        }
        frame_cache = FrameCache.for_samples(
            default_cache_root(root, cache_dir), name, split, params, source.signature(root), len(source.samples)
        )
        fill_cache(source, frame_cache, workers=workers, desc=f"{name} {split} frames", progress=progress)
    return EventFrameDataset(source, frame_cache, transform, binary)


def as_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """Option value -> ``(H, W)``: ``48`` means 48x48."""
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2:
        raise ValueError(f"size must be an int or [H, W], got {size!r}")
    return size  # type: ignore[return-value]
