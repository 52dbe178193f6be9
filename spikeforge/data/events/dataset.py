"""Torch Datasets of event recordings: integrated into frames (with an optional frame cache), or raw.

:class:`FrameSource` turns sample ``i`` into events (read the file, cut the sample's time
window) and frames (integrate, resize); :class:`EventFrameDataset` serves frames, from the
cache when one is given, as ``(x float32 [T, 2, H, W], y int)``; :class:`EventStreamDataset`
serves the raw events as Tonic-style structured arrays, optionally through a transform;
:func:`fill_cache` builds the cache once, in parallel, with a progress bar. Which of them a
user gets is decided in :func:`spikeforge.data.events.options.build_event_dataset`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..cache import ContentKeys, FrameCache, content_key, default_cache_root
from ..errors import DataFormatError
from .frames import RESIZE_MODES, SPLIT_BY, events_to_frames, resize_frames
from .stream import Events

__all__ = [
    "EventFrameDataset",
    "EventSample",
    "EventStreamDataset",
    "FrameSource",
    "FrameSpec",
    "build_event_frames",
    "fill_cache",
]

CONTENT_KEYS = "content-keys"  # CACHE_ROOT/content-keys/<dataset>.json: the source files' keys by stat
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
        split_by: ``"number"`` or ``"time"`` (see :mod:`spikeforge.data.events.frames`).
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
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {self.resize_mode!r}")

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
        """Events of sample ``i``.

        Raises:
            DataFormatError: the recording holds no events (a zero-byte or header-only file),
                or the sample's time window holds none: an all-zero sample is never served.
        """
        sample = self.samples[i]
        if self._memo is not None and self._memo[0] == sample.path:
            events = self._memo[1]
        else:
            events = self.read(sample.path)
            if len(events) == 0:
                raise DataFormatError(sample.path, "holds no events (a zero-byte or header-only recording)")
            if sample.window is not None:
                self._memo = (sample.path, events)
        if sample.window is None:
            return events
        cut = events.window(*sample.window)
        if len(cut) == 0:
            start, end = sample.window
            raise DataFormatError(sample.path, f"no events in the labelled window [{start}, {end}) us")
        return cut

    def frames(self, i: int) -> np.ndarray:
        """``float32 [T, 2, H, W]`` frames of sample ``i`` (resized if the spec says so)."""
        s = self.spec
        frames = events_to_frames(self.events(i), s.T, s.split_by, s.height, s.width)
        if s.size is not None:
            frames = resize_frames(torch.from_numpy(frames), s.size, s.resize_mode).numpy()
        return frames

    def signature(self, root: str | os.PathLike[str], memo: ContentKeys | None = None) -> list[str]:
        """One line per sample that changes when its source file's contents or its label do (for the cache key).

        ``memo`` remembers the files' content keys between runs (see :class:`ContentKeys`).
        """
        keys: dict[str, str] = {}
        lines = []
        for sample in self.samples:
            if sample.path not in keys:
                key = memo.key(sample.path) if memo is not None else content_key(sample.path)
                keys[sample.path] = f"{os.path.relpath(sample.path, root)}|{key}"
            lines.append(f"{keys[sample.path]}|{sample.label}|{sample.window}")
        return lines


_WORKER_STATE: tuple[FrameSource, FrameCache] | None = None


def _init_worker(source: FrameSource, cache: FrameCache) -> None:
    global _WORKER_STATE
    torch.set_num_threads(1)  # one process per core already
    # Ctrl-C reaches the whole process group: let the parent alone decide (it terminates the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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


class _Terminated(BaseException):
    """SIGTERM arrived while the cache was being built (raised in the main thread)."""


class _SigtermGuard:
    """SIGTERM as :class:`_Terminated` in the main thread: raised at once, or, inside :meth:`deferred`,
    when the block ends. Only the first SIGTERM counts (a second one must not interrupt the clean-up)."""

    def __init__(self) -> None:
        self.received = False
        self._deferring = False

    def handler(self, signum: int, frame: Any) -> None:
        if self.received:
            return
        self.received = True
        if not self._deferring:
            raise _Terminated()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self.received:
            raise _Terminated()


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[_SigtermGuard]:
    """Turn SIGTERM into :class:`_Terminated` for the duration (main thread only), so that the
    worker pool is terminated before the process exits instead of being left running."""
    guard = _SigtermGuard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    previous = signal.signal(signal.SIGTERM, guard.handler)
    try:
        yield guard
    finally:
        signal.signal(signal.SIGTERM, previous)


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

    On SIGTERM or Ctrl-C during a parallel build the worker processes are terminated and
    joined before the signal takes effect (SIGTERM then exits with status 143): no worker is
    left running. Finished frames stay in the cache; the next build resumes from them.
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
                with _sigterm_raises() as sigterm:
                    pool = None
                    try:
                        # A SIGTERM while the workers start waits until the pool exists: raised inside
                        # ctx.Pool it would leave started workers unjoined (and forkserver children
                        # still unpickling the pool's semaphores fail on their removal, with tracebacks).
                        size = min(workers, len(chunks))
                        with sigterm.deferred():
                            pool = ctx.Pool(size, initializer=_init_worker, initargs=(source, cache))
                        for done in pool.imap_unordered(_fill_chunk, chunks):
                            bar.update(done)
                        pool.close()
                    except _Terminated:
                        if pool is not None:
                            pool.terminate()
                        raise SystemExit(128 + signal.SIGTERM) from None
                    except BaseException:
                        if pool is not None:
                            pool.terminate()
                        raise
                    finally:
                        if pool is not None:
                            pool.join()
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
    key: dict[str, Any] | None = None,
) -> EventFrameDataset:
    """Assemble an :class:`EventFrameDataset`, building its frame cache first when ``cache``.

    ``key``: further options that change the frames (JSON-able), added to the cache key.
    """
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
            **(key or {}),
        }
        cache_root = default_cache_root(root, cache_dir)
        memo = ContentKeys(cache_root / CONTENT_KEYS / f"{name}.json")
        signature = source.signature(root, memo)
        memo.save()
        frame_cache = FrameCache.for_samples(cache_root, name, split, params, signature, len(source.samples))
        fill_cache(source, frame_cache, workers=workers, desc=f"{name} {split} frames", progress=progress)
    return EventFrameDataset(source, frame_cache, transform, binary)


class EventStreamDataset(Dataset):
    """Items ``(x, y)``: ``x`` the raw events of a sample as a Tonic-style structured array
    (fields ``x, y, t, p``, see :mod:`spikeforge.data.tonic`) or what ``transform`` makes of it.

    Args:
        source: reads the events (and knows the labels).
        transform: applied to the structured array (e.g. ``tonic.transforms.Compose``); a numeric
            NumPy array it returns becomes a float32 tensor (``ToFrame``'s ``[T, 2, H, W]``).
    """

    def __init__(self, source: FrameSource, transform: Callable[[np.ndarray], Any] | None = None) -> None:
        self.source, self.transform = source, transform

    def __len__(self) -> int:
        return len(self.source.samples)

    @property
    def targets(self) -> list[int]:
        return [s.label for s in self.source.samples]

    def __getitem__(self, i: int) -> tuple[Any, int]:
        from ..tonic import to_tonic

        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        x: Any = to_tonic(self.source.events(i))
        if self.transform is not None:
            x = self.transform(x)
            if isinstance(x, np.ndarray) and x.dtype.names is None and x.dtype.kind in "iufb":
                x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return x, self.source.samples[i].label
