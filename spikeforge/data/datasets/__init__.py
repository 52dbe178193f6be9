"""Built-in datasets, one module per dataset: its layout on disk, reader conventions, options and builder.

Each public module declares ``DATASETS = (DatasetInfo(...), ...)``; :mod:`spikeforge.data.registry`
collects every public module of this package, so a new dataset is one new module here.
Modules starting with ``_`` hold shared helpers and declare none.
"""
