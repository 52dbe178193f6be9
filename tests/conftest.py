"""Test-wide settings."""

import pytest
import torch

# The suite's networks are tiny: one intra-op thread is faster than two, and much faster on a
# shared machine where threads of small operations wait for each other.
torch.set_num_threads(1)


@pytest.fixture
def one_thread():
    """One torch thread for the test, restored after (a run under test may have changed it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
