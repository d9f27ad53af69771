"""MNIST: the bundled 7,000-image sample and the full set from IDX files.

The sample (``mnist``) ships inside the package: 5,000 train / 1,000 validation /
1,000 test images drawn, class-stratified with a fixed seed, from the official MNIST
*test* split (t10k, 10,000 images), because that is the split at hand without network.
``scripts/build_mnist_sample.py`` rebuilds it from the official IDX files; provenance
and checksums are in ``mnist_sample.json`` beside the data.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, distributed under
CC BY-SA 3.0.
"""

from __future__ import annotations

import json
import os
import urllib.request
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from reglab.data._idx import md5_of_uncompressed, read_idx
from reglab.data._splits import Split, Splits
from reglab.errors import DataError

__all__ = ["load_mnist_sample", "load_mnist_full", "download_mnist", "MNIST_FILES", "MNIST_URL"]

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"

# name -> (n, md5 of the published .gz file, md5 of the uncompressed IDX file or None)
MNIST_FILES: dict[str, tuple[int, str, str | None]] = {
    "train-images-idx3-ubyte": (60_000, "f68b3c2dcbeaaa9fbdd348bbdeb94873", None),
    "train-labels-idx1-ubyte": (60_000, "d53e105ee54ea40749a09fcbcd1e9432", None),
    "t10k-images-idx3-ubyte": (10_000, "9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte": (10_000, "ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
}


def _to_split(images: np.ndarray, labels: np.ndarray) -> Split:
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return Split(x=x, y=torch.from_numpy(labels.astype(np.int64)))


def sample_metadata() -> dict:
    """Provenance of the bundled sample (source files, checksums, seed, licence)."""
    text = resources.files("reglab.data").joinpath("mnist_sample.json").read_text(encoding="utf-8")
    return json.loads(text)


def load_mnist_sample(n_train: int | None = None) -> Splits:
    """The bundled MNIST sample: 5,000 / 1,000 / 1,000 images of 1×28×28 in [0, 1]."""
    with resources.files("reglab.data").joinpath("mnist_sample.npz").open("rb") as fh:
        arrays = dict(np.load(fh))
    train = _to_split(arrays["x_train"][:n_train], arrays["y_train"][:n_train])
    return Splits(
        name="mnist",
        task="classification",
        train=train,
        val=_to_split(arrays["x_val"], arrays["y_val"]),
        test=_to_split(arrays["x_test"], arrays["y_test"]),
        n_classes=10,
        image_shape=(1, 28, 28),
        info={"source": "MNIST t10k split, stratified sample (see mnist_sample.json)", "license": "CC BY-SA 3.0"},
    )


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _verify(path: Path, stem: str) -> None:
    _, gz_md5, raw_md5 = MNIST_FILES[stem]
    import hashlib

    file_md5 = hashlib.md5(path.read_bytes()).hexdigest()
    if file_md5 == gz_md5:
        return
    if raw_md5 is None:
        if path.suffix == ".gz":
            raise DataError(f"{path}: MD5 {file_md5} does not match the published {gz_md5}")
        return  # no published checksum of the uncompressed file: shape and labels are checked instead
    content_md5 = md5_of_uncompressed(path)
    if content_md5 != raw_md5:
        raise DataError(f"{path}: MD5 of its content is {content_md5}, expected {raw_md5} (official MNIST)")


def _check_images(path: Path, images: np.ndarray) -> None:
    if images.ndim != 3:
        raise DataError(f"{path}: images must be a 3-D array (N, rows, columns), got shape {images.shape}")
    if images.dtype.kind == "f":
        # beyond float32's range a value would become Inf (with a numpy warning) when converted
        ok = np.isfinite(images) & (np.abs(images) <= np.finfo(np.float32).max)
        bad = np.flatnonzero(~ok.reshape(len(images), -1).all(axis=1))
        if bad.size:
            raise DataError(f"{path}: {bad.size} images hold NaN, Inf or out-of-range values (the first is image "
                            f"{int(bad[0])}); pixel values must be finite")


def _check_labels(path: Path, labels: np.ndarray) -> None:
    if labels.ndim != 1:
        raise DataError(f"{path}: labels must be a 1-D array, got shape {labels.shape}")
    valid = np.isin(labels, np.arange(10))  # False for NaN, fractions and values outside 0-9
    if not valid.all():
        first = int(np.flatnonzero(~valid)[0])
        raise DataError(f"{path}: labels must be the digits 0-9, found {labels[first].item()!r} at index {first} "
                        f"({int((~valid).sum())} bad labels)")


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one images/labels pair of IDX files and check them; every error names the file."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    _check_images(images_path, images)
    _check_labels(labels_path, labels)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
                        f"{labels.shape[0]} labels")
    return images, labels


def _data_dir(data_dir: str | os.PathLike | None) -> Path:
    chosen = data_dir or os.environ.get("REGLAB_DATA")
    if not chosen:
        raise DataError(
            "mnist-full needs the four MNIST IDX files: set data.data_dir (or --data-dir, or $REGLAB_DATA) "
            f"to a folder holding {', '.join(MNIST_FILES)} (.gz or not); get them from {MNIST_URL} "
            "or with reglab.data.download_mnist(folder)"
        )
    return Path(chosen)


def load_mnist_full(
    data_dir: str | os.PathLike | None = None, *, val_size: int | None = None, seed: int = 0, verify: bool = True,
    n_train: int | None = None,
) -> Splits:
    """The standard MNIST from IDX files: 50,000 train / 10,000 validation (seeded) / 10,000 test.

    ``val_size`` defaults to 10,000 (or a sixth of the training file when it is smaller).

    Checksums: a ``.gz`` file must match the MD5 published with the file; an
    uncompressed t10k file must match the MD5 of the official content. Pass
    ``verify=False`` for files you made yourself.
    """
    directory = _data_dir(data_dir)
    paths = {}
    for stem in MNIST_FILES:
        found = _find(directory, stem)
        if found is None:
            raise DataError(f"mnist-full: {stem}(.gz) not found in {directory}; get the files from {MNIST_URL}")
        if verify:
            _verify(found, stem)
        paths[stem] = found
    x_tr, y_tr = _read_pair(paths["train-images-idx3-ubyte"], paths["train-labels-idx1-ubyte"])
    x_te, y_te = _read_pair(paths["t10k-images-idx3-ubyte"], paths["t10k-labels-idx1-ubyte"])
    if val_size is None:
        val_size = min(10_000, len(x_tr) // 6)
    if not 0 < val_size < len(x_tr):
        raise DataError(f"mnist-full: val_size must be between 1 and {len(x_tr) - 1}, got {val_size}")
    order = np.random.default_rng(seed).permutation(len(x_tr))
    val_idx, tr_idx = order[:val_size], order[val_size:][:n_train]
    return Splits(
        name="mnist-full",
        task="classification",
        train=_to_split(x_tr[tr_idx], y_tr[tr_idx]),
        val=_to_split(x_tr[val_idx], y_tr[val_idx]),
        test=_to_split(x_te, y_te),
        n_classes=10,
        image_shape=(1,) + tuple(x_tr.shape[1:]),
        info={"source": str(directory), "license": "CC BY-SA 3.0"},
    )


def download_mnist(directory: str | os.PathLike, base_url: str = MNIST_URL) -> Path:
    """Download the four ``.gz`` IDX files into ``directory`` and verify their MD5 (needs network)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stem in MNIST_FILES:
        target = directory / f"{stem}.gz"
        if not target.exists():
            tmp = target.with_suffix(".part")
            urllib.request.urlretrieve(base_url + target.name, tmp)  # noqa: S310 - fixed https URL
            tmp.replace(target)
        _verify(target, stem)
    return directory
