"""Built-in datasets, one module per dataset: its layout on disk, reader conventions, options and builder.

Each public module declares ``DATASETS = (DatasetInfo(...), ...)``; :mod:`spikeforge.data.registry`
collects every public module of this package, so a new dataset is one new module here.
Modules starting with ``_`` hold shared helpers and declare none.

The event-camera modules share one shape on purpose (require the root, list the samples, call
:func:`~spikeforge.data.events.build_event_dataset` with the reader and sensor size; then a
``Layout`` and the ``DatasetInfo``): the logic is in ``build_event_dataset`` and ``_layout``,
and what stays in each module is that dataset's own facts, readable in one file.
"""
