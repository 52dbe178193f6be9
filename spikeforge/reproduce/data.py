"""The harder static task of the study: MNIST-1D as a static 40-feature vector.

The bundled ``digits`` task is nearly solved by the small conv SNN within two epochs, which
leaves little room to see an effect of the initial membrane potential. MNIST-1D (Greydanus
2020) was designed to separate model classes: a dense network reaches only about 60-70% on
it, so a dense SNN direct-encoded over ``T`` steps is far from saturation at a CPU budget.

The dataset registry has MNIST-1D only as a 40-step *sequence* (``mnist1d``). This module
registers ``mnist1d_static`` (the same signals as a ``[40]`` static item, for the ``direct``
encoder) when :func:`ensure_registered` is called. It reuses ``mnist1d``'s generator, so the
split and the signals are the same.
"""

from __future__ import annotations

from torch.utils.data import TensorDataset

__all__ = ["MNIST1D_STATIC", "ensure_registered"]

MNIST1D_STATIC = "mnist1d_static"


def _mnist1d_static(root: str | None, split: str, T: int | None, seed: int = 42) -> TensorDataset:
    """MNIST-1D signals as static items ``([40] float32, label)``; ``T`` is ignored (direct encoding)."""
    from ..data.registry import build_dataset

    seq = build_dataset("mnist1d", split, root=None, T=None, seed=seed, window=1)
    x, y = seq.tensors
    return TensorDataset(x[..., 0].contiguous(), y)


def ensure_registered() -> None:
    """Register ``mnist1d_static`` in the dataset registry once (a no-op when it already exists)."""
    from ..data.registry import DATASETS, dataset_info, register_dataset

    dataset_info("digits")  # loads the built-in datasets first, so a built-in of the same name would win
    if MNIST1D_STATIC not in DATASETS:
        register_dataset(
            MNIST1D_STATIC, "static", 10, needs_root=False, description="MNIST-1D signals as static 40-vectors"
        )(_mnist1d_static)
