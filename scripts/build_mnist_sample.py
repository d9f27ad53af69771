"""Rebuild reglab's bundled MNIST sample from the official IDX files.

Usage: python scripts/build_mnist_sample.py [IDX_DIR] [--out src/reglab/data]

Reads t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz) (the MNIST test
split, 10,000 images), checks their content MD5 against the published values, draws a
class-stratified sample of 5,000 train / 1,000 validation / 1,000 test images with a
fixed seed, and writes mnist_sample.npz (uint8, compressed) and mnist_sample.json
(provenance, checksums, licence). Running it twice gives byte-identical output.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import numpy as np

from reglab.data._idx import md5_of_uncompressed, read_idx
from reglab.data._mnist import MNIST_FILES

SEED = 20_261_125
SIZES = {"train": 5_000, "val": 1_000, "test": 1_000}


def stratified_sample(labels: np.ndarray, sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Indices per part, each part with class proportions as in ``labels`` (largest remainders)."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    pools = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    taken = {c: 0 for c in classes}
    out = {}
    for part, size in sizes.items():
        exact = counts / counts.sum() * size
        per_class = np.floor(exact).astype(int)
        for i in np.argsort(-(exact - per_class))[: size - per_class.sum()]:
            per_class[i] += 1
        idx = []
        for c, k in zip(classes, per_class):
            idx.append(pools[c][taken[c] : taken[c] + k])
            taken[c] += k
        out[part] = np.sort(np.concatenate(idx))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("idx_dir", nargs="?", default="../shared/data/mnist")
    parser.add_argument("--out", default="src/reglab/data")
    args = parser.parse_args()
    src = Path(args.idx_dir)
    files = {}
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        path = next(p for p in (src / stem, src / f"{stem}.gz") if p.is_file())
        md5 = md5_of_uncompressed(path)
        if md5 != MNIST_FILES[stem][2]:
            raise SystemExit(f"{path}: content MD5 {md5} is not the official {MNIST_FILES[stem][2]}")
        files[stem] = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "content_md5": md5}
    images = read_idx(src / files["t10k-images-idx3-ubyte"]["file"])
    labels = read_idx(src / files["t10k-labels-idx1-ubyte"]["file"])
    parts = stratified_sample(labels, SIZES, SEED)
    arrays = {}
    for part, idx in parts.items():
        arrays[f"x_{part}"] = images[idx]
        arrays[f"y_{part}"] = labels[idx]
        arrays[f"source_index_{part}"] = idx.astype(np.uint16)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    out = Path(args.out)
    (out / "mnist_sample.npz").write_bytes(buf.getvalue())
    meta = {
        "description": "Stratified sample of the MNIST test split (t10k): 5,000 train / 1,000 val / 1,000 test",
        "source": "MNIST, Yann LeCun, Corinna Cortes and Christopher J.C. Burges",
        "license": "CC BY-SA 3.0",
        "source_files": files,
        "seed": SEED,
        "sizes": SIZES,
        "class_counts": {p: np.bincount(labels[i], minlength=10).tolist() for p, i in parts.items()},
        "npz_sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
        "builder": "scripts/build_mnist_sample.py",
    }
    (out / "mnist_sample.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out / 'mnist_sample.npz'} ({len(buf.getvalue()) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
