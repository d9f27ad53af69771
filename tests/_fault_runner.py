"""Run ``reglab ARGS`` as a real process with a fault injected (used by test_faults.py).

``python tests/_fault_runner.py train CONFIG ...`` behaves exactly like ``python -m reglab``,
except for what these environment variables ask:

* ``REGLAB_FAULT_KILL_AT_SAVE=N``: on the N-th checkpoint save, write half of the file and
  then SIGKILL this process: a kill -9 in the middle of a checkpoint write.
* ``REGLAB_FAULT_EPOCH_SLEEP=S``: sleep S seconds after every epoch.
* ``REGLAB_FAULT_HOLD_UNTIL=PATH``: before every epoch after the first, wait until PATH exists
  (at most two minutes), so that the run is certainly alive while another process meets it.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import time


def _kill_during_checkpoint_write(at: int) -> None:
    import torch

    original = torch.save
    count = 0

    def save(obj, f, *args, **kwargs):
        nonlocal count
        if "checkpoint" not in str(getattr(f, "name", f)):
            return original(obj, f, *args, **kwargs)
        count += 1
        if count < at:
            return original(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        original(obj, buffer, *args, **kwargs)
        blob = buffer.getvalue()[: len(buffer.getvalue()) // 2]
        if hasattr(f, "write"):
            f.write(blob)
            f.flush()
        else:
            with open(f, "wb") as fh:
                fh.write(blob)
        os.kill(os.getpid(), signal.SIGKILL)

    torch.save = save


def _slow_epochs(seconds: float) -> None:
    from reglab.train import Trainer

    run_epoch = Trainer.run_epoch

    def slow(self, *args, **kwargs):
        result = run_epoch(self, *args, **kwargs)
        time.sleep(seconds)
        return result

    Trainer.run_epoch = slow


def _hold_until(path: str) -> None:
    from reglab.train import Trainer

    run_epoch = Trainer.run_epoch

    def held(self, *args, **kwargs):
        deadline = time.time() + 120
        while self.epoch >= 1 and not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.02)  # epoch 1 and its checkpoint are done; the run is alive and owns the run
        return run_epoch(self, *args, **kwargs)

    Trainer.run_epoch = held


def main() -> None:
    if os.environ.get("REGLAB_FAULT_KILL_AT_SAVE"):
        _kill_during_checkpoint_write(int(os.environ["REGLAB_FAULT_KILL_AT_SAVE"]))
    if os.environ.get("REGLAB_FAULT_EPOCH_SLEEP"):
        _slow_epochs(float(os.environ["REGLAB_FAULT_EPOCH_SLEEP"]))
    if os.environ.get("REGLAB_FAULT_HOLD_UNTIL"):
        _hold_until(os.environ["REGLAB_FAULT_HOLD_UNTIL"])
    from reglab.cli import main as reglab_main

    sys.argv = ["reglab", *sys.argv[1:]]
    reglab_main()


if __name__ == "__main__":
    main()
