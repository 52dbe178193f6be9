"""The trainer: typed configs (:mod:`.config`), the training loop (:mod:`.engine`), checkpoints and evaluation.

Submodules are imported on use (``from spikeforge.train import engine``), so importing this
package loads nothing else.
"""
