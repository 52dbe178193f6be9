"""``python -m spikeforge.neuron.ops.cpu``: build the fused CPU kernels now (``./run`` does at set-up)."""

from .build import main

raise SystemExit(main())
