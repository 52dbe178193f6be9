"""Datasets: a registry of builders that read the datasets' own on-disk formats.

``build_dataset(name, split, root=..., T=..., **options)`` returns a torch ``Dataset`` of
``(x, y)``; ``dataset_info(name)`` says its kind (``"static"`` ``[C, H, W]`` or ``"sequence"``
``[T, ...]``), classes and options. Importing this package loads nothing heavy: the dataset
modules are imported on the first ``dataset_info`` / ``build_dataset`` call.
See ``docs/datasets.md`` for every dataset's layout and options.
"""

from .collate import TimeFirstCollate, time_first_collate
from .errors import DataFormatError, DatasetNotFoundError
from .registry import DATASETS, DatasetInfo, build_dataset, dataset_info, register_dataset

__all__ = [
    "DATASETS",
    "DataFormatError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "TimeFirstCollate",
    "build_dataset",
    "dataset_info",
    "register_dataset",
    "time_first_collate",
]
