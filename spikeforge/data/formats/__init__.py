"""Readers of the datasets' own on-disk formats (our own, see ``docs/datasets.md`` for why not Tonic's).

* :mod:`.atis_bin`: N-MNIST / N-Caltech101 ``.bin`` (40-bit ATIS events).
* :mod:`.aedat`: AEDAT 2.0 (CIFAR10-DVS, DVS128 addresses), 3.1 (DVS128 Gesture) and 4.0 (the
  CIFAR10-DVS conversion).
* :mod:`.hdf5_spikes`: SHD ``.h5`` (a ``.h5.gz`` is decompressed by :func:`spikeforge.data.cache.gunzip_once`).
* :mod:`.cifar_pickle`: CIFAR-10/100 python pickle batches (restricted unpickler).

Every reader raises :class:`~spikeforge.data.errors.DataFormatError` naming the file on
truncated or corrupt input and never returns out-of-range events.
"""
