"""reglab.data.augment against independent references: rot90, roll, row shifts, scipy's Gaussian filter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from reglab.data.augment import (
    Augmenter,
    augmentation_figure,
    elastic,
    rotate,
    rotate_by,
    skew,
    skew_by,
    translate,
    translate_by,
)
from reglab.errors import ConfigError

ATOL = {torch.float32: 1e-6, torch.float64: 1e-12}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(n=3, h=9, w=9, dtype=torch.float64, seed=0):
    return torch.rand(n, h, w, generator=_gen(seed), dtype=dtype)


def _shifted(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """torch.roll by (dy, dx) with the wrapped-around rows/columns set to 0."""
    out = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    h, w = x.shape[-2:]
    rows = torch.arange(h)
    cols = torch.arange(w)
    valid_r = (rows - dy >= 0) & (rows - dy < h)
    valid_c = (cols - dx >= 0) & (cols - dx < w)
    return out * (valid_r[:, None] & valid_c[None, :]).to(x.dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize(("angle", "k"), [(90.0, 1), (-90.0, -1), (180.0, 2), (270.0, 3)])
def test_rotation_by_right_angles_equals_rot90(dtype, size, angle, k):
    # positive angles are counter-clockwise as displayed, i.e. torch.rot90 with k > 0
    x = _images(h=size, w=size, dtype=dtype)
    torch.testing.assert_close(rotate_by(x, angle), torch.rot90(x, k, dims=(-2, -1)), rtol=0, atol=ATOL[dtype])


def test_rotation_keeps_channel_shape_and_takes_per_image_angles():
    x = _images(n=2).unsqueeze(1)
    out = rotate_by(x, torch.tensor([0.0, 90.0], dtype=x.dtype))
    assert out.shape == x.shape
    torch.testing.assert_close(out[0], x[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(out[1], torch.rot90(x[1], 1, dims=(-2, -1)), rtol=0, atol=1e-12)


def test_rotation_of_a_non_square_image_is_in_pixels():
    # one bright pixel 2 columns right of the centre of a 7×11 image; 90° ccw puts it 2 rows above
    x = torch.zeros(1, 7, 11, dtype=torch.float64)
    x[0, 3, 7] = 1.0
    expected = torch.zeros_like(x)
    expected[0, 1, 5] = 1.0
    torch.testing.assert_close(rotate_by(x, 90.0), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("dx", "dy"), [(2, 1), (-1, 3), (0, -2), (-3, -3)])
def test_whole_pixel_translation_equals_roll_with_zero_fill(dx, dy):
    x = _images(h=7, w=10)
    torch.testing.assert_close(translate_by(x, float(dx), float(dy)), _shifted(x, dx, dy), rtol=0, atol=1e-12)


def test_random_translation_is_whole_pixels_within_bound():
    # a single bright pixel per image must land exactly on another pixel, at most 2 away
    x = torch.zeros(20, 9, 9, dtype=torch.float64)
    x[:, 4, 4] = 1.0
    out = translate(x, 2, _gen(3))
    assert torch.allclose(out.sum(dim=(1, 2)), torch.ones(20, dtype=torch.float64))
    peak = out.flatten(1).argmax(1)
    rows, cols = peak // 9, peak % 9
    assert (out.flatten(1).max(1).values > 1 - 1e-12).all()
    assert ((rows - 4).abs() <= 2).all() and ((cols - 4).abs() <= 2).all()
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5


def _centroids(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Intensity centroids (x right, y down) relative to the image centre."""
    h, w = images.shape[-2:]
    mass = images.sum(dim=(-2, -1))
    x = (images * (torch.arange(w, dtype=images.dtype) - (w - 1) / 2)).sum(dim=(-2, -1)) / mass
    y = (images * (torch.arange(h, dtype=images.dtype)[:, None] - (h - 1) / 2)).sum(dim=(-2, -1)) / mass
    return x, y


def test_random_rotation_angles_cover_both_directions_within_bound():
    x = torch.zeros(60, 21, 21, dtype=torch.float64)
    x[:, 10, 16] = 1.0  # 6 pixels right of the centre
    cx, cy = _centroids(rotate(x, 30.0, _gen(4)))
    angles = torch.rad2deg(torch.atan2(-cy, cx))  # counter-clockwise as displayed
    assert angles.abs().max() <= 30.5
    assert angles.max() > 15 and angles.min() < -15


def test_random_skew_covers_both_directions_within_bound():
    x = torch.zeros(60, 21, 21, dtype=torch.float64)
    x[:, 14, 10] = 1.0  # 4 pixels below the centre
    cx, _ = _centroids(skew(x, 0.5, _gen(4)))
    assert cx.abs().max() <= 2.0 + 1e-9  # |k|·4 with |k| ≤ 0.5
    assert cx.max() > 1.0 and cx.min() < -1.0


def test_whole_pixel_shear_shifts_each_row_by_its_offset():
    # k = 1: row i moves right by (i − centre) pixels, zero fill
    x = _images(n=2, h=7, w=9)
    expected = torch.stack([_shifted(x[:, i : i + 1, :], i - 3, 0)[:, 0, :] for i in range(7)], dim=1)
    torch.testing.assert_close(skew_by(x, 1.0), expected, rtol=0, atol=1e-12)


def test_identities_at_zero_strength():
    x = _images(n=4, h=28, w=28)
    g = _gen()
    for out in (elastic(x, 0.0, 4.0, g), skew(x, 0.0, g), skew_by(x, 0.0), rotate(x, 0.0, g), translate(x, 0, g)):
        torch.testing.assert_close(out, x, rtol=0, atol=1e-12)
    x32 = x.float()
    torch.testing.assert_close(elastic(x32, 0.0, 4.0, g), x32, rtol=0, atol=1e-5)


def test_elastic_field_matches_scipy_gaussian_filter():
    # on the ramps I(x, y) = column and = row, bilinear sampling is exact, so out − I recovers
    # the displacement d = α·G_σ * u away from the border; u is elastic's one torch.rand draw
    n, h, w, alpha, sigma = 2, 40, 40, 6.0, 3.0
    cols = torch.arange(w, dtype=torch.float64).expand(n, h, w)
    rows = torch.arange(h, dtype=torch.float64)[:, None].expand(n, h, w)
    u = 2.0 * torch.rand((n, 2, h, w), generator=_gen(5), dtype=torch.float64) - 1.0
    expected = alpha * gaussian_filter(u.numpy(), sigma=(0, 0, sigma, sigma), mode="constant", truncate=4.0)
    dx = (elastic(cols, alpha, sigma, _gen(5)) - cols).numpy()
    dy = (elastic(rows, alpha, sigma, _gen(5)) - rows).numpy()
    assert np.abs(expected).max() < 3.0  # so a 4-pixel margin keeps every sample inside
    inner = (slice(None), slice(4, -4), slice(4, -4))
    np.testing.assert_allclose(dx[inner], expected[:, 0][inner], atol=1e-10)
    np.testing.assert_allclose(dy[inner], expected[:, 1][inner], atol=1e-10)
    assert np.abs(dx[inner]).max() > 0.3  # the field is not trivially zero


def test_same_generator_seed_gives_same_output():
    x = _images(n=5, h=28, w=28)
    aug = Augmenter(rotation=15.0, translation=2, skew=0.2, elastic_alpha=20.0, elastic_sigma=4.0)
    torch.testing.assert_close(aug(x, _gen(7)), aug(x, _gen(7)), rtol=0, atol=0)
    assert not torch.equal(aug(x, _gen(7)), aug(x, _gen(8)))
    for fn, arg in ((rotate, 10.0), (skew, 0.3), (translate, 2)):
        assert torch.equal(fn(x, arg, _gen(1)), fn(x, arg, _gen(1)))
    assert torch.equal(elastic(x, 30.0, 4.0, _gen(1)), elastic(x, 30.0, 4.0, _gen(1)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_unit_interval_images_stay_in_range(dtype):
    x = _images(n=16, h=28, w=28, dtype=dtype)
    aug = Augmenter(rotation=30.0, translation=3, skew=0.5, elastic_alpha=34.0, elastic_sigma=4.0)
    out = aug(x, _gen(2))
    assert out.dtype == dtype and out.shape == x.shape
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    assert not torch.allclose(out, x)


def test_expand_keeps_labels_and_originals():
    x = _images(n=6, h=12, w=12).unsqueeze(1)
    labels = torch.tensor([3, 1, 4, 1, 5, 9])
    big_x, big_y = Augmenter(rotation=10.0, translation=1).expand(x, labels, copies=3, generator=_gen(0))
    assert big_x.shape == (24, 1, 12, 12)
    assert torch.equal(big_y, labels.repeat(4))
    assert torch.equal(big_x[:6], x)
    assert not torch.allclose(big_x[6:12], x)
    same_x, same_y = Augmenter().expand(x, labels, copies=0, generator=_gen(0))
    assert torch.equal(same_x, x) and torch.equal(same_y, labels)


def test_probability_passes_some_images_through_unchanged():
    x = _images(n=40, h=10, w=10)
    assert torch.equal(Augmenter(probability=0.0)(x, _gen(0)), x)
    out = Augmenter(rotation=20.0, probability=0.5)(x, _gen(0))
    unchanged = sum(torch.equal(a, b) for a, b in zip(out, x))
    assert 5 < unchanged < 35


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rotation": -1.0},
        {"translation": 1.5},
        {"skew": -0.1},
        {"elastic_alpha": -1.0},
        {"elastic_sigma": 0.0},
        {"probability": 1.5},
    ],
)
def test_augmenter_validates_its_config(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ConfigError, match=name):
        Augmenter(**kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        rotate_by(torch.zeros(2, 3, 8, 8), 10.0)
    with pytest.raises(ValueError, match="floating-point"):
        rotate_by(torch.zeros(2, 8, 8, dtype=torch.uint8), 10.0)
    with pytest.raises(ValueError, match="whole number"):
        translate(torch.zeros(2, 8, 8), 1.5, _gen())
    with pytest.raises(ValueError, match="sigma > 0"):
        elastic(torch.zeros(2, 8, 8), 1.0, 0.0, _gen())


def test_augmentation_figure_writes_a_png(tmp_path):
    x = _images(n=4, h=28, w=28, dtype=torch.float32)
    aug = Augmenter(rotation=15.0, translation=2, skew=0.3, elastic_alpha=34.0)
    path = augmentation_figure(x, aug, tmp_path / "augment.png", seed=0)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
