"""Shared fixtures."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Run a test on one torch thread: small ops are faster and timing-independent that way on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
