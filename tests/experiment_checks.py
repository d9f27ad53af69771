"""Shared checks for the built-in experiments' tests: run one quick, check its files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from matplotlib.image import imread

from reglab.experiments import run_experiment


def run_quick(tmp_path_factory, name: str) -> tuple[dict, Path]:
    """Run ``name`` with ``quick=True`` in a fresh folder; return its summary and its experiment folder."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp(name)
    document = run_experiment(name, root, quick=True)
    folder = root / "experiments" / name
    assert json.loads((folder / "summary.json").read_text(encoding="utf-8"))["name"] == name
    return document, folder


def check_figures(document: dict, folder: Path, stems: set[str] | None = None) -> None:
    """Every listed PNG exists with its SVG, is not blank; optionally the set of figure stems is as expected."""
    pngs = [f for f in document["figures"] if f.endswith(".png")]
    assert pngs
    if stems is not None:
        assert {f[:-4] for f in pngs} == stems
    for name in pngs:
        assert (folder / name).stat().st_size > 0 and (folder / name.replace(".png", ".svg")).stat().st_size > 0
        pixels = imread(folder / name)
        assert pixels.size > 0 and np.ptp(pixels[..., :3]) > 0, f"{name} is a single colour"
