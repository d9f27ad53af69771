import os

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    yield


@pytest.fixture
def repo_root() -> str:
    return REPO


@pytest.fixture
def server():
    """A fresh playground server (no sessions) on 127.0.0.1, a free port; stopped after the test."""
    from reglab.playground import serve_in_thread

    with serve_in_thread() as url:
        yield url
