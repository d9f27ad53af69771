import gzip
import hashlib
import json
from importlib import resources

import numpy as np
import pytest
import torch

from reglab.data import load_dataset, load_mnist_full, load_mnist_sample, make_linear, make_toy, read_idx, write_idx
from reglab.errors import DataError


def test_idx_reader_on_a_hand_written_file(tmp_path):
    # header by hand: magic 0x00000803 (ubyte, 3 dims), sizes 2, 3, 4 big-endian
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    blob = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + (4).to_bytes(4, "big")
    (tmp_path / "a-idx3-ubyte").write_bytes(blob + data.tobytes())
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(blob + data.tobytes()))
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte"), data)
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte.gz"), data)


def test_idx_reader_rejects_bad_files(tmp_path):
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="magic"):
        read_idx(tmp_path / "junk")
    blob = bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 3
    (tmp_path / "short").write_bytes(blob)
    with pytest.raises(DataError, match="data bytes"):
        read_idx(tmp_path / "short")


def _write_fake_mnist(folder, n_train=120, n_test=30):
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(n_train) % 10)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(n_test) % 10)


def test_mnist_full_from_written_idx_files(tmp_path):
    _write_fake_mnist(tmp_path)
    splits = load_mnist_full(tmp_path, val_size=20, verify=False)
    assert splits.sizes() == {"train": 100, "val": 20, "test": 30}
    assert splits.train.x.shape[1:] == (1, 28, 28)
    assert float(splits.train.x.max()) <= 1.0
    raw_test = read_idx(tmp_path / "t10k-images-idx3-ubyte")
    torch.testing.assert_close(splits.test.x[:, 0], torch.from_numpy(raw_test / 255.0).float())


def test_mnist_full_checksums_and_missing_files(tmp_path, monkeypatch):
    _write_fake_mnist(tmp_path)
    with pytest.raises(DataError, match="MD5"):
        load_mnist_full(tmp_path)  # made-up files do not carry the published checksums
    with pytest.raises(DataError, match="not found"):
        load_mnist_full(tmp_path / "empty", verify=False)
    monkeypatch.delenv("REGLAB_DATA", raising=False)
    with pytest.raises(DataError, match="REGLAB_DATA"):
        load_mnist_full(None)


def test_mnist_full_through_the_config_and_env(tmp_path, monkeypatch):
    _write_fake_mnist(tmp_path)
    monkeypatch.setenv("REGLAB_DATA", str(tmp_path))
    splits = load_dataset("mnist-full", verify_checksums=False)
    assert splits.sizes()["test"] == 30


def test_the_real_t10k_files_pass_verification(repo_root):
    from pathlib import Path

    from reglab.data._mnist import _verify

    folder = Path(repo_root).parent / "shared" / "data" / "mnist"
    if not folder.exists():
        pytest.skip("shared MNIST folder not present beside the checkout")
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        _verify(folder / f"{stem}.gz", stem)


def test_bundled_mnist_sample_matches_its_provenance():
    meta = json.loads(resources.files("reglab.data").joinpath("mnist_sample.json").read_text())
    blob = resources.files("reglab.data").joinpath("mnist_sample.npz").read_bytes()
    assert hashlib.sha256(blob).hexdigest() == meta["npz_sha256"]
    splits = load_mnist_sample()
    assert splits.sizes() == {"train": 5000, "val": 1000, "test": 1000}
    for part in ("train", "val", "test"):
        counts = np.bincount(getattr(splits, part).y.numpy(), minlength=10)
        assert counts.tolist() == meta["class_counts"][part]
    # stratified like t10k (class 1 most frequent: 1135/10000)
    assert np.bincount(splits.train.y.numpy()).argmax() == 1


def test_digits_split_is_seeded_disjoint_and_stratified():
    a, b, c = load_dataset("digits"), load_dataset("digits"), load_dataset("digits", seed=1)
    assert torch.equal(a.train.x, b.train.x) and not torch.equal(a.train.x, c.train.x)
    assert sum(a.sizes().values()) == 1797
    flat = {tuple(row.tolist()) for part in (a.train, a.val, a.test) for row in part.x.flatten(1)}
    assert len(flat) >= 1790  # a handful of digits images are exact duplicates in the source
    train_share = np.bincount(a.train.y.numpy()) / len(a.train)
    assert np.abs(train_share - 0.1).max() < 0.01


@pytest.mark.parametrize("name", ["circle", "xor", "gauss", "spiral"])
def test_toy_sets(name):
    s = make_toy(name, n_points=400, noise=10, train_ratio=70, seed=3)
    assert s.sizes() == {"train": 280, "val": 60, "test": 60}
    assert set(s.train.y.tolist()) == {0, 1}
    again = make_toy(name, n_points=400, noise=10, train_ratio=70, seed=3)
    assert torch.equal(s.train.x, again.train.x)
    noisy = make_toy(name, n_points=400, noise=50, train_ratio=70, seed=3)
    assert not torch.equal(s.train.x, noisy.train.x)


def test_xor_labels_follow_the_quadrants_without_noise():
    s = make_toy("xor", n_points=200, noise=0)
    x, y = s.train.x, s.train.y
    assert torch.equal(y, (x[:, 0] * x[:, 1] > 0).long())


@pytest.mark.parametrize("whiten", [False, True])
def test_linear_set_has_the_requested_hessian_spectrum(whiten):
    spectrum = [5.0, 2.0, 1.0, 0.5, 0.01]
    s = make_linear(dim=5, n=50, spectrum=spectrum, whiten=whiten, seed=2)
    x = s.train.x.double()
    h = x.T @ x / 50
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(h.numpy()))[::-1], spectrum, rtol=1e-5, atol=1e-6)
    if whiten:
        np.testing.assert_allclose(h.numpy(), np.diag(spectrum), atol=1e-5)


def test_polynomial_set_follows_its_polynomial():
    s = load_dataset("polynomial", degree=2, n=50, noise_std=0.0)
    coef = s.info["coefficients"]
    x = s.train.x[:, 0].double()
    expected = coef[0] + coef[1] * x + coef[2] * x**2
    torch.testing.assert_close(s.train.y[:, 0].double(), expected, atol=1e-5, rtol=1e-5)


# --- bad data files (issue 9): every error is a DataError naming the file and what is wrong ---


def _write_float_idx(path, array):
    """A big-endian float64 IDX file (type 0x0E) by hand: the only kind that can hold NaN."""
    array = np.asarray(array, dtype=">f8")
    header = bytes([0, 0, 0x0E, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(header + array.tobytes())


def test_idx_label_outside_0_to_9_names_the_file_and_the_value(tmp_path):
    _write_fake_mnist(tmp_path)
    labels = np.arange(120) % 10
    labels[17] = 12
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError) as info:
        load_mnist_full(tmp_path, val_size=20, verify=False)
    message = str(info.value)
    assert "train-labels-idx1-ubyte.gz" in message and "12" in message and "index 17" in message


def test_negative_and_fractional_labels_are_refused(tmp_path):
    _write_fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    labels = (np.arange(30) % 10).astype(float)
    labels[3] = 2.5
    _write_float_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.*2\.5 at index 3"):
        load_mnist_full(tmp_path, val_size=20, verify=False)
    labels[3] = -1
    _write_float_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.*-1\.0 at index 3"):
        load_mnist_full(tmp_path, val_size=20, verify=False)


@pytest.mark.parametrize("keep", [0, 5, 40])
def test_truncated_gzip_idx_is_a_data_error_naming_the_file(tmp_path, keep):
    _write_fake_mnist(tmp_path)
    target = tmp_path / "train-images-idx3-ubyte.gz"
    blob = target.read_bytes()
    target.write_bytes(blob[: max(len(blob) // 2, 2)] if keep == 40 else blob[: keep + 2])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz"):
        load_mnist_full(tmp_path, val_size=20, verify=False)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz"):
        read_idx(target)


def test_corrupt_gzip_and_unreadable_paths_name_the_file(tmp_path):
    corrupt = tmp_path / "x-idx1-ubyte.gz"
    blob = bytearray(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 200]) + bytes(range(200))))
    blob[12:20] = b"\xff" * 8  # damage the deflate stream
    corrupt.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"x-idx1-ubyte\.gz"):
        read_idx(corrupt)
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "missing-idx1-ubyte")
    with pytest.raises(DataError, match="directory"):
        read_idx(tmp_path)
    (tmp_path / "cut").write_bytes(bytes([0, 0, 8, 3, 0, 0]))  # 3 dimensions announced, 2 size bytes given
    with pytest.raises(DataError, match="header"):
        read_idx(tmp_path / "cut")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
def test_non_finite_idx_images_are_refused_without_a_numpy_warning(tmp_path, bad):
    _write_fake_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    images = np.random.default_rng(1).uniform(0, 255, (30, 28, 28))
    images[4, 3, 3] = bad
    _write_float_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    # filterwarnings = error: a numpy RuntimeWarning would fail this test before the DataError
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.*image 4"):
        load_mnist_full(tmp_path, val_size=20, verify=False)


def test_float_idx_images_that_are_finite_load(tmp_path):
    _write_fake_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    images = np.random.default_rng(1).uniform(0, 255, (30, 28, 28))
    _write_float_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    splits = load_mnist_full(tmp_path, val_size=20, verify=False)
    np.testing.assert_allclose(splits.test.x[:, 0].numpy(), images / 255.0, rtol=1e-6)


def test_image_and_label_counts_must_agree_naming_both_files(tmp_path):
    _write_fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(29) % 10)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte holds 30 images but .*t10k-labels-idx1-ubyte holds 29"):
        load_mnist_full(tmp_path, val_size=20, verify=False)


@pytest.mark.parametrize("part, what", [("train", "x"), ("val", "x"), ("test", "y")])
def test_any_split_with_nan_or_inf_is_a_data_error_naming_the_split(part, what):
    from reglab.data import Split, Splits

    good = load_dataset("polynomial", degree=2, n=20, n_test=5)
    parts = {p: getattr(good, p) for p in ("train", "val", "test")}
    x, y = parts[part].x.clone(), parts[part].y.clone()
    (x if what == "x" else y)[2, 0] = float("nan") if part != "val" else float("inf")
    parts[part] = Split(x, y)
    with pytest.raises(DataError) as info:
        Splits(good.name, good.task, **parts)
    message = str(info.value)
    assert f"the {part} split's {'inputs' if what == 'x' else 'targets'}" in message
    assert "'polynomial'" in message and "example 2" in message
