"""``python -m spikeforge`` (used by ``torchrun ... -m spikeforge train CONFIG``)."""

import sys

from .cli import main

sys.exit(main())
