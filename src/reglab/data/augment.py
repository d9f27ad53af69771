"""Artificial expansion of image data: rotation, translation, skew and elastic distortion.

Batched torch transforms for grayscale images of shape (N, H, W) or (N, 1, H, W)
(any float dtype; the shape is kept). Every random draw takes an explicit
``torch.Generator`` on the images' device; nothing touches the global RNG.

Conventions. Pixel coordinates are (x, y) = (column, row) with the origin at the
image centre and y pointing *down*, as the image is shown by ``imshow``. A
transform is applied by inverse mapping: output pixel p takes the bilinear
interpolation of the input at M⁻¹p (``affine_grid`` / ``grid_sample`` with
``align_corners=False``); points outside the image read 0 (background). Each
output is a convex combination of input pixels and zeros, so [0, 1] images stay
in [0, 1] up to float rounding. Sampling at exact pixel centres (whole-pixel
shifts, multiples of 90°, the identity) reproduces pixels up to that rounding:
about 1e-6 for float32 28×28 images (the grid is computed in the images' dtype),
1e-14 for float64.

* rotation by φ degrees: counter-clockwise as displayed for φ > 0, so
  ``rotate_by(x, 90)`` equals ``torch.rot90(x, 1, dims=(-2, -1))`` for square images;
* translation by (dx, dy) pixels: right and down for positive values;
* skew (shear) by k: x' = x + k·y, so rows below the centre move right for k > 0;
* elastic: out(p) = in(p + α·(G_σ * u)(p)), u ~ U[−1, 1]² per pixel.

Reference: P. Simard, D. Steinkraus, J. Platt, "Best Practices for Convolutional
Neural Networks Applied to Visual Document Analysis", ICDAR 2003; M. Nielsen,
*Neural Networks and Deep Learning*, ch. 3 ("Artificially expanding the training data").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from reglab.errors import ConfigError

__all__ = [
    "rotate",
    "rotate_by",
    "translate",
    "translate_by",
    "skew",
    "skew_by",
    "elastic",
    "Augmenter",
    "augmentation_figure",
]

Scalars = float | torch.Tensor


def _as_nchw(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise ValueError("images must be a floating-point torch.Tensor")
    if images.ndim == 3:
        return images.unsqueeze(1)
    if images.ndim == 4 and images.shape[1] == 1:
        return images
    raise ValueError(f"images must have shape (N, H, W) or (N, 1, H, W), got {tuple(images.shape)}")


def _per_image(values: Scalars, like: torch.Tensor) -> torch.Tensor:
    """A float or (N,) tensor of per-image values, as an (N,) tensor in the images' dtype."""
    values = torch.as_tensor(values, dtype=like.dtype, device=like.device)
    return values.expand(like.shape[0]) if values.ndim == 0 else values


def _eye(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(3, dtype=like.dtype, device=like.device).repeat(n, 1, 1)


def _rotation(angles_deg: torch.Tensor) -> torch.Tensor:
    """Inverse maps (N, 3, 3) in centred pixel coordinates for counter-clockwise rotations."""
    phi = torch.deg2rad(angles_deg)
    m = _eye(len(phi), phi)
    c, s = torch.cos(phi), torch.sin(phi)
    # y points down, so the displayed counter-clockwise rotation is [[c, s], [−s, c]]; invert it
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _shear(k: torch.Tensor) -> torch.Tensor:
    """Inverse maps of x' = x + k·y."""
    m = _eye(len(k), k)
    m[:, 0, 1] = -k
    return m


def _translation(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Inverse maps of p' = p + (dx, dy)."""
    m = _eye(len(dx), dx)
    m[:, 0, 2], m[:, 1, 2] = -dx, -dy
    return m


def _warp(x: torch.Tensor, inverse: torch.Tensor, displacement: torch.Tensor | None = None) -> torch.Tensor:
    """Sample x (N, 1, H, W) at inverse·(p + displacement(p)); pixel units in, zeros outside.

    ``affine_grid`` works in normalized coordinates u = (2/W)·x_pixel,
    v = (2/H)·y_pixel (pixel centres, ``align_corners=False``), hence the scaling.
    """
    h, w = x.shape[-2:]
    to_unit = torch.diag(torch.tensor([2.0 / w, 2.0 / h, 1.0], dtype=x.dtype, device=x.device))
    to_pixel = torch.diag(torch.tensor([w / 2.0, h / 2.0, 1.0], dtype=x.dtype, device=x.device))
    theta = (to_unit @ inverse @ to_pixel)[:, :2, :]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if displacement is not None:
        d = displacement.permute(0, 2, 3, 1) * torch.tensor([2.0 / w, 2.0 / h], dtype=x.dtype, device=x.device)
        grid = grid + torch.einsum("nij,nhwj->nhwi", theta[:, :, :2], d)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _apply(images: torch.Tensor, inverse: torch.Tensor, displacement: torch.Tensor | None = None) -> torch.Tensor:
    return _warp(_as_nchw(images), inverse, displacement).reshape(images.shape)


def _symmetric(n: int, bound: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """n draws uniform in [−bound, bound]."""
    u = torch.rand(n, generator=generator, dtype=like.dtype, device=like.device)
    return (2.0 * u - 1.0) * bound


def rotate_by(images: torch.Tensor, angles_deg: Scalars) -> torch.Tensor:
    """Rotate each image about its centre by ``angles_deg`` (a float or (N,) tensor).

    Positive angles turn the image counter-clockwise as displayed (row 0 on top):
    out(p) = in(R(−φ)p), bilinear, zero fill.

    Example:
        >>> x = torch.arange(9.0).reshape(1, 3, 3)
        >>> torch.allclose(rotate_by(x, 90.0), torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)
        True
    """
    return _apply(images, _rotation(_per_image(angles_deg, images)))


def rotate(images: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    """Rotate each image by its own angle drawn uniformly from [−degrees, degrees].

    Nielsen (ch. 3) expands MNIST by rotating digits by about 15°.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> rotate(torch.zeros(4, 28, 28), 15.0, g).shape
        torch.Size([4, 28, 28])
    """
    return rotate_by(images, _symmetric(images.shape[0], degrees, generator, images))


def translate_by(images: torch.Tensor, dx: Scalars, dy: Scalars) -> torch.Tensor:
    """Shift each image by ``dx`` pixels right and ``dy`` pixels down (floats or (N,) tensors).

    out(x, y) = in(x − dx, y − dy); what enters the frame is 0. Whole-pixel
    shifts are exact: like ``torch.roll`` with the wrapped-around part zeroed.

    Example:
        >>> translate_by(torch.tensor([[[1.0, 2.0, 3.0]]]), 1.0, 0.0)
        tensor([[[0., 1., 2.]]])
    """
    return _apply(images, _translation(_per_image(dx, images), _per_image(dy, images)))


def translate(images: torch.Tensor, max_pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by whole pixels dx, dy drawn uniformly from {−max_pixels, …, max_pixels}.

    Whole-pixel shifts keep the digit sharp (no interpolation blur).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> translate(torch.ones(2, 5, 5), 1, g).shape
        torch.Size([2, 5, 5])
    """
    if max_pixels < 0 or int(max_pixels) != max_pixels:
        raise ValueError(f"max_pixels must be a whole number ≥ 0, got {max_pixels!r}")
    m = int(max_pixels)
    shifts = torch.randint(-m, m + 1, (2, images.shape[0]), generator=generator, device=images.device)
    return translate_by(images, shifts[0].to(images.dtype), shifts[1].to(images.dtype))


def skew_by(images: torch.Tensor, shear: Scalars) -> torch.Tensor:
    """Shear each image horizontally: x' = x + k·y with k = ``shear`` (float or (N,) tensor).

    k is dimensionless: pixels of horizontal shift per pixel below the image
    centre (k = tan of the slant angle). Rows below the centre move right for k > 0.

    Example:
        >>> x = torch.rand(2, 7, 7)
        >>> torch.allclose(skew_by(x, 0.0), x, atol=1e-5)
        True
    """
    return _apply(images, _shear(_per_image(shear, images)))


def skew(images: torch.Tensor, max_shear: float, generator: torch.Generator) -> torch.Tensor:
    """Shear each image by its own k drawn uniformly from [−max_shear, max_shear] (see :func:`skew_by`).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> skew(torch.zeros(3, 8, 8), 0.3, g).shape
        torch.Size([3, 8, 8])
    """
    return skew_by(images, _symmetric(images.shape[0], max_shear, generator, images))


def _gaussian_smooth(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian filter (std ``sigma`` pixels, cut at 4σ, zero padding) of (B, H, W) fields.

    Same kernel as ``scipy.ndimage.gaussian_filter(..., mode="constant", truncate=4.0)``.
    """
    radius = int(4.0 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=field.dtype, device=field.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = field.unsqueeze(1)
    x = F.conv2d(x, kernel.view(1, 1, 1, -1), padding=(0, radius))
    x = F.conv2d(x, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    return x.squeeze(1)


def _elastic_field(
    n: int, h: int, w: int, alpha: float, sigma: float, generator: torch.Generator, like: torch.Tensor
) -> torch.Tensor:
    """Displacements (N, 2, H, W) in pixels, channel 0 = x, 1 = y: α·(G_σ * u), u ~ U[−1, 1]."""
    u = 2.0 * torch.rand((n, 2, h, w), generator=generator, dtype=like.dtype, device=like.device) - 1.0
    return alpha * _gaussian_smooth(u.reshape(n * 2, h, w), sigma).reshape(n, 2, h, w)


def elastic(images: torch.Tensor, alpha: float, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Elastic distortion of Simard, Steinkraus & Platt (2003).

    For every pixel draw u = (uₓ, u_y) uniform in [−1, 1], smooth each component
    with a Gaussian of std σ pixels (cut at 4σ, zero outside the image), scale by
    α pixels: d = α·(G_σ * u). Then out(p) = in(p + d(p)), bilinear, zero fill.
    No normalization of the field is done, so α and σ act together: the typical
    displacement is about α·0.58/(2σ√π) pixels (α = 34, σ = 4 for MNIST in the paper).
    The random draw is one ``torch.rand((N, 2, H, W))`` (channel 0 = x).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.rand(2, 28, 28)
        >>> torch.allclose(elastic(x, 0.0, 4.0, g), x, atol=1e-5)
        True
    """
    if alpha < 0 or sigma <= 0:
        raise ValueError(f"elastic needs alpha ≥ 0 and sigma > 0, got alpha={alpha}, sigma={sigma}")
    x = _as_nchw(images)
    n, _, h, w = x.shape
    field = _elastic_field(n, h, w, alpha, sigma, generator, x)
    return _apply(images, _eye(n, x), field)


@dataclass(frozen=True)
class Augmenter:
    """Random rotation, skew, translation and elastic distortion, as one resampling.

    Each image is, with probability ``probability``, rotated by an angle uniform in
    ±``rotation`` degrees, sheared by k uniform in ±``skew``, shifted by whole
    pixels uniform in {−``translation``, …, ``translation``} (in that order), and
    elastically distorted with (``elastic_alpha``, ``elastic_sigma``) when
    ``elastic_alpha`` > 0; otherwise it is passed through unchanged. The affine
    parts and the elastic field are combined into one ``grid_sample``, so the image
    is interpolated once. Conventions as in the module docstring.

    The frozen fields are plain, validated data (a ``ConfigError`` for bad values),
    so ``Augmenter(**config)`` works from a config table.

    Example:
        >>> aug = Augmenter(rotation=15.0, translation=2)
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = aug.expand(torch.rand(10, 28, 28), torch.arange(10), copies=2, generator=g)
        >>> x.shape, y.shape
        (torch.Size([30, 28, 28]), torch.Size([30]))

    Reference: Simard et al. (2003); Nielsen, ch. 3.
    """

    rotation: float = 15.0
    translation: int = 2
    skew: float = 0.0
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0
    probability: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "rotation": 0 <= self.rotation <= 180,
            "translation": isinstance(self.translation, int) and self.translation >= 0,
            "skew": self.skew >= 0,
            "elastic_alpha": self.elastic_alpha >= 0,
            "elastic_sigma": self.elastic_sigma > 0,
            "probability": 0 <= self.probability <= 1,
        }
        rules = {
            "rotation": "in [0, 180] degrees",
            "translation": "a whole number of pixels ≥ 0",
            "skew": "≥ 0",
            "elastic_alpha": "≥ 0",
            "elastic_sigma": "> 0",
            "probability": "in [0, 1]",
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"augment {name} must be {rules[name]}, got {getattr(self, name)!r}")

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A transformed copy of ``images`` (same shape); draws come from ``generator`` only."""
        x = _as_nchw(images)
        n, _, h, w = x.shape
        keep = torch.rand(n, generator=generator, device=x.device) >= self.probability
        angles = _symmetric(n, self.rotation, generator, x)
        shears = _symmetric(n, self.skew, generator, x)
        m = self.translation
        shifts = torch.randint(-m, m + 1, (2, n), generator=generator, device=x.device).to(x.dtype)
        field = None
        if self.elastic_alpha > 0:
            field = _elastic_field(n, h, w, self.elastic_alpha, self.elastic_sigma, generator, x)
        # output p reads input R⁻¹ S⁻¹ T⁻¹ p for the forward map T∘S∘R
        inverse = _rotation(angles) @ _shear(shears) @ _translation(shifts[0], shifts[1])
        out = _warp(x, inverse, field)
        out = torch.where(keep.view(n, 1, 1, 1), x, out)
        return out.reshape(images.shape)

    def expand(
        self, images: torch.Tensor, labels: torch.Tensor, copies: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Offline expansion: the originals followed by ``copies`` transformed copies.

        Returns ``(images', labels')`` with N·(copies + 1) rows: rows [k·N, (k+1)·N)
        hold copy k (k = 0 the originals), and ``labels'`` is ``labels`` repeated
        copies + 1 times, so every copy keeps its label.
        """
        if copies < 0 or int(copies) != copies:
            raise ValueError(f"copies must be a whole number ≥ 0, got {copies!r}")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        batches = [images] + [self(images, generator) for _ in range(int(copies))]
        return torch.cat(batches), torch.cat([labels] * (int(copies) + 1))


def _single_transforms(augmenter: Augmenter) -> dict[str, Augmenter]:
    """One augmenter per enabled transform (the others switched off), then the full one."""
    off = Augmenter(rotation=0.0, translation=0, skew=0.0, elastic_alpha=0.0, probability=1.0)
    rows = {
        f"rotation ±{augmenter.rotation:g}°": dataclasses.replace(off, rotation=augmenter.rotation),
        f"translation ±{augmenter.translation} px": dataclasses.replace(off, translation=augmenter.translation),
        f"skew ±{augmenter.skew:g}": dataclasses.replace(off, skew=augmenter.skew),
        f"elastic α={augmenter.elastic_alpha:g}, σ={augmenter.elastic_sigma:g}": dataclasses.replace(
            off, elastic_alpha=augmenter.elastic_alpha, elastic_sigma=augmenter.elastic_sigma
        ),
    }
    enabled = [augmenter.rotation, augmenter.translation, augmenter.skew, augmenter.elastic_alpha]
    chosen = {label: aug for (label, aug), on in zip(rows.items(), enabled) if on > 0}
    chosen["all (augmenter)"] = augmenter
    return chosen


def augmentation_figure(
    images: torch.Tensor, augmenter: Augmenter, path: str | Path, seed: int, n_images: int = 6
) -> Path:
    """Save a PNG grid: the first ``n_images`` images, then each enabled transform of them.

    Row 1 shows the originals; each further row applies one transform of
    ``augmenter`` alone, the last row the whole augmenter. Every row uses a
    generator seeded with ``seed``, so the figure is reproducible. Drawn with the
    Agg canvas (no window, no global pyplot state).

    Example:
        >>> import tempfile, os
        >>> p = augmentation_figure(torch.rand(3, 8, 8), Augmenter(), os.path.join(tempfile.mkdtemp(), "a.png"), 0)
        >>> p.suffix
        '.png'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = _as_nchw(images)[:n_images].detach().cpu()
    rows = {"original": x}
    for label, aug in _single_transforms(augmenter).items():
        rows[label] = aug(x, torch.Generator().manual_seed(seed))
    cols = x.shape[0]
    fig = Figure(figsize=(1.3 * cols + 1.6, 1.3 * len(rows)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (label, batch) in enumerate(rows.items()):
        for c in range(cols):
            ax = axes[r][c]
            ax.imshow(batch[c, 0].numpy(), cmap="gray_r", vmin=0.0, vmax=max(1.0, float(x.max())))
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png", dpi=100)
    return path
