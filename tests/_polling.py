"""Waiting in tests for something another thread or process does (bounded, never forever)."""

import time


def wait_for(condition, seconds=10.0):
    """Poll ``condition()`` every 0.1 s for up to ``seconds``; True as soon as it holds, False if it never does."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False
