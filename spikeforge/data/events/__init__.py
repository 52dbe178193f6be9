"""Event-camera data: the :class:`Events` type, frames, the frame options and the event datasets' machinery.

* :mod:`.stream`: :class:`Events`, validated once at the boundary (:meth:`Events.checked`).
* :mod:`.frames`: events -> ``[T, 2, H, W]`` frames, SHD spikes -> ``[T, 700]`` bins.
* :mod:`.dataset`: frame / raw-event Datasets and the frame cache build.
* :mod:`.options`: :class:`FrameOptions`, the options every event-camera dataset takes, and
  :func:`build_event_dataset`, the one place they take effect.

The byte-level readers of the files are in :mod:`spikeforge.data.formats`; each dataset's
layout and conventions in its module of :mod:`spikeforge.data.datasets`.
"""

from .dataset import EventFrameDataset, EventSample, EventStreamDataset
from .frames import bin_spike_times, events_to_frames, resize_frames
from .options import FrameOptions, build_event_dataset
from .stream import Events

__all__ = [
    "EventFrameDataset",
    "EventSample",
    "EventStreamDataset",
    "Events",
    "FrameOptions",
    "bin_spike_times",
    "build_event_dataset",
    "events_to_frames",
    "resize_frames",
]
