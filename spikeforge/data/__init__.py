"""Datasets: a registry of builders that read the datasets' own on-disk formats.

``build_dataset(name, split, root=..., T=..., **options)`` returns a torch ``Dataset`` of
``(x, y)``; ``dataset_info(name)`` says its kind (``"static"`` ``[C, H, W]`` or ``"sequence"``
``[T, ...]``), classes and options. Importing this package loads nothing heavy: the dataset
modules are imported on the first ``dataset_info`` / ``build_dataset`` call.

Where things live:

* :mod:`.registry`: ``DatasetInfo``, ``register_dataset``, ``build_dataset`` (the one registry).
* :mod:`.datasets`: one module per dataset (layout, reader conventions, options, builder).
* :mod:`.events`: the ``Events`` type, frames, ``FrameOptions`` (the event datasets' options).
* :mod:`.formats`: byte-level readers of the files.
* :mod:`.cache`: the content-keyed caches; :mod:`.errors`: what a user can get wrong.
* :mod:`.tonic`: conversion to and from Tonic's structured event arrays.

See ``docs/datasets.md`` for every dataset's layout and options.
"""

from .collate import TimeFirstCollate, time_first_collate
from .errors import DataError, DataFormatError, DatasetNotFoundError, EmptySplitError
from .registry import DATASETS, DatasetInfo, build_dataset, check_options, dataset_info, register_dataset

__all__ = [
    "DATASETS",
    "DataError",
    "DataFormatError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "EmptySplitError",
    "TimeFirstCollate",
    "build_dataset",
    "check_options",
    "dataset_info",
    "register_dataset",
    "time_first_collate",
]
