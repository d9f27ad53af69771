"""The sweep benchmark's smoke run: it finishes, reglab agrees with a hand-written torch loop, it states its goal."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_the_quick_bench_runs_and_reglab_agrees_with_the_hand_loop(repo_root):
    proc = subprocess.run([sys.executable, f"{repo_root}/benchmarks/bench_sweep.py", "--quick", "--threads", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # the lean hand loop (torch SGD with weight_decay = λ) and reglab's member for the same λ start from the same
    # weights and draw the same batches: their test errors agree up to float32 rounding of batched products
    checks = [float(d) for d in re.findall(r"\|Δ\| = ([0-9.]+)", out)]
    assert len(checks) == 2 and all(d <= 0.01 for d in checks), out
    for batch in (10, 100):
        assert f"batch {batch}:" in out
    for case in ("idiomatic loops", "lean loops", "reglab sweep, vectorized", "reglab sweep, auto",
                 "engine, vectorized", "engine, auto"):
        assert len(re.findall(rf"^  {case} +[0-9.]+ s ", out, re.M)) == 2, case
    assert re.search(r"^goal: .*: (met|NOT met) \(batch 10: [0-9.]+×, batch 100: [0-9.]+×", out, re.M), out
