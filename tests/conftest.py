"""Test-wide settings."""

import torch

# The suite's networks are tiny: one intra-op thread is faster than two, and much faster on a
# shared machine where threads of small operations wait for each other.
torch.set_num_threads(1)
