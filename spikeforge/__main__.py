"""``python -m spikeforge`` (used by ``torchrun ... -m spikeforge train CONFIG``)."""

import sys

from .commands import main

sys.exit(main())
