"""Quick runs of the spectrum-shrinkage, early-stopping, dropout and augmentation experiments.

Each experiment runs once per module (quick mode); the tests check what was
written and compare the numbers with independent references: hand-computed
closed forms, a dense float64 Hessian from ``torch.autograd.functional``,
scipy.ndimage's resampling, and the notes' own procedures rebuilt by hand.
"""


import numpy as np
import pytest
import scipy.ndimage as ndimage
import torch

from reglab.config import parse_config
from reglab.data import load_dataset
from experiment_checks import check_figures, run_quick
from reglab.models import build_model


def _run(tmp_path_factory, name: str) -> tuple[dict, object]:
    doc, folder = run_quick(tmp_path_factory, name)
    return doc, folder.parent.parent


def _check_figures(doc: dict, root, stems: set[str]) -> None:
    check_figures(doc, root / "experiments" / doc["name"], stems)


# ---------------------------------------------------------------- spectrum-shrinkage


@pytest.fixture(scope="module")
def spectrum(tmp_path_factory):
    return _run(tmp_path_factory, "spectrum-shrinkage")


def test_spectrum_figures_and_plotted_numbers(spectrum):
    doc, root = spectrum
    _check_figures(doc, root, {"mlp_spectrum", "shrink_predicted_vs_observed"})
    mlp = doc["summary"]["mlp"]
    values = np.asarray(mlp["eigenvalues"])
    assert len(values) == mlp["n_weights"] and np.all(np.diff(values) <= 0)
    hist = mlp["histogram"]
    assert sum(hist["positive"]) + sum(hist["negative_abs"]) + hist["below_range"] == len(values)
    # the overlaid curves and γ(α) are λ/(λ+α) and Σ max(λ,0)/(max(λ,0)+α), computed here by hand
    grid = np.asarray(mlp["lambda_grid"])
    for alpha in mlp["overlay_alphas"]:
        np.testing.assert_allclose(mlp["shrink_curves"][f"{alpha:g}"], grid / (grid + alpha), rtol=1e-12)
    pos = np.clip(values, 0, None)
    by_hand = [np.sum(pos / (pos + a)) for a in mlp["gamma_alphas"]]
    np.testing.assert_allclose(mlp["effective_parameters_mean"], by_hand, rtol=1e-10)
    assert "mean training loss" in doc["summary"]["convention"]


def test_spectrum_matches_a_dense_float64_hessian_of_the_stored_model(spectrum):
    doc, root = spectrum
    mlp = doc["summary"]["mlp"]
    cfg = parse_config(doc["configs"]["mlp"])
    splits = load_dataset(cfg.data)
    model = build_model(cfg.model, splits.input_dim, splits.output_dim)
    state = torch.load(root / "runs" / doc["run_ids"][0] / "checkpoint.pt", weights_only=False)["model"]
    model.load_state_dict(state)
    model = model.double()
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    shapes = [m.weight.shape for m in layers]
    x, y = splits.train.x.double().flatten(1), splits.train.y

    def loss(flat):
        w1, w2 = flat[: shapes[0].numel()].view(shapes[0]), flat[shapes[0].numel():].view(shapes[1])
        hidden = torch.tanh(x @ w1.T + layers[0].bias)
        return torch.nn.functional.cross_entropy(hidden @ w2.T + layers[1].bias, y)

    flat = torch.cat([m.weight.detach().reshape(-1) for m in layers])
    H = torch.autograd.functional.hessian(loss, flat)
    ref = torch.linalg.eigvalsh(H).flip(0).numpy()
    values = np.asarray(mlp["eigenvalues"])
    assert mlp["n_weights"] == len(ref)
    np.testing.assert_allclose(values, ref, atol=1e-9 * max(1.0, abs(ref).max()))
    assert mlp["trace"] == pytest.approx(float(torch.trace(H)), rel=1e-10)


def test_verify_shrink_is_exact_on_least_squares_and_degrades_for_logistic(spectrum):
    doc, _ = spectrum
    checks = doc["summary"]["verify"]
    assert set(checks) == {"least squares", "logistic regression", "MLP"}
    ls = checks["least squares"]
    configured = np.sort(doc["configs"]["least squares"]["data"]["spectrum"])[::-1]
    lam = np.asarray(ls["eigenvalues"])
    np.testing.assert_allclose(lam, configured, rtol=1e-4)  # the data set is built so that H has this spectrum
    for case in ls["cases"]:
        predicted = np.asarray(case["shrink_predicted"])
        np.testing.assert_allclose(predicted, lam / (lam + case["alpha"]), rtol=1e-12)
        observed = np.asarray([np.nan if v is None else v for v in case["shrink_observed"]])
        keep = np.isfinite(observed)
        assert keep.sum() >= len(lam) - 2
        np.testing.assert_allclose(observed[keep], predicted[keep], atol=1e-6)
        assert case["holds"]
    logistic = checks["logistic regression"]["cases"]
    assert logistic[0]["rel_err"] < 1e-3  # the quadratic model is accurate near w*
    assert logistic[-1]["rel_err"] > 10 * logistic[0]["rel_err"]  # and degrades far from it
    for case in checks["MLP"]["cases"]:
        assert len(case["shrink_predicted"]) == len(case["shrink_observed"]) == checks["MLP"]["n_penalized"]


# ---------------------------------------------------------------- early-stopping


@pytest.fixture(scope="module")
def early(tmp_path_factory):
    return _run(tmp_path_factory, "early-stopping")


def test_gradient_descent_components_follow_the_closed_form_and_l2_at_one_over_eta_tau(early):
    doc, root = early
    _check_figures(doc, root, {"validation_curves", "gd_vs_l2"})
    ls = doc["summary"]["least_squares"]
    lam, eta = np.asarray(ls["eigenvalues"]), ls["lr"]
    np.testing.assert_allclose(lam, ls["spectrum_configured"], rtol=1e-4)
    assert eta * lam.max() < 1
    for row in ls["per_tau"]:
        tau = row["tau"]
        alpha = 1.0 / (eta * tau)
        assert row["alpha"] == pytest.approx(alpha)
        np.testing.assert_allclose(row["gd_measured"], 1 - (1 - eta * lam) ** tau, atol=1e-9)
        np.testing.assert_allclose(row["ridge_measured"], lam / (lam + alpha), atol=1e-9)
        # the two factors coincide at both ends of the spectrum and differ where λ ≈ α
        gd, l2 = np.asarray(row["gd_formula"]), np.asarray(row["l2_formula"])
        assert abs(gd[lam < alpha / 100] - l2[lam < alpha / 100]).max(initial=0) < 0.02
        assert 0.05 < abs(gd - l2).max() < 0.3
    assert len(ls["tau_grid"]) == len(ls["val_loss_gd"]) == len(ls["val_loss_ridge"]) == len(ls["relative_distance"])


def test_early_stopping_stops_patience_epochs_after_the_best_and_restores_it(early):
    doc, _ = early
    net = doc["summary"]["net"]
    patience = net["patience"]
    for record in net["seeds"]:
        curves = record["curves"]
        assert len(curves["val_loss"]) == net["epochs"]
        for monitor in ("val_loss", "val_error"):
            stop = record[monitor]
            best, end = stop["best_epoch"], stop["stopped_epoch"]
            # same seed, same mini-batches: the stopped run is a prefix of the long run
            np.testing.assert_allclose(stop["curve"], curves[monitor][:end], rtol=1e-6)
            assert best == int(np.argmin(curves[monitor][:end])) + 1
            if stop["stopped_early"]:
                assert end - best == patience
            assert stop["test_error"] == pytest.approx(curves["test_error"][best - 1], abs=1e-9)
    # the notes' picture: the validation loss of the unregularized net turns up again
    first = net["seeds"][0]["curves"]["val_loss"]
    assert first[-1] > min(first)


# ---------------------------------------------------------------- dropout


@pytest.fixture(scope="module")
def dropout(tmp_path_factory):
    return _run(tmp_path_factory, "dropout")


def test_dropout_curves_and_the_notes_halved_weights(dropout):
    doc, root = dropout
    _check_figures(doc, root, {"error_curves"})
    per = doc["summary"]["per_variant"]
    assert set(per) == {"no dropout", "inverted dropout", "halving (notes)"}
    epochs = doc["configs"]["no dropout"]["train"]["epochs"]
    for row in per.values():
        assert len(row["curve_train_error"]) == len(row["curve_test_error"]) == epochs
        assert row["final_test_error"]["mean"] == row["curve_test_error"][-1]
    assert len(doc["run_ids"]) == 3
    # halving at test time by scaling activations is the notes' network with its outgoing weights halved
    (check,) = doc["summary"]["halving_check"]
    assert check["test_error_weights_halved"] == check["test_error_trainer"]
    assert check["max_abs_logit_difference"] < 1e-4
    assert doc["configs"]["halving (notes)"]["regularizer"] == [{"kind": "dropout", "p": 0.5, "mode": "halving"}]


# ---------------------------------------------------------------- augmentation


@pytest.fixture(scope="module")
def augmentation(tmp_path_factory):
    return _run(tmp_path_factory, "augmentation")


def test_augmentation_gallery_matches_scipy_ndimage(augmentation):
    doc, root = augmentation
    _check_figures(doc, root, {"transforms", "error_curves"})
    gallery = doc["summary"]["gallery"]
    assert gallery["labels"] == list(range(10))
    pixels = {k: np.asarray(v) for k, v in gallery["digit5_pixels"].items()}
    original = load_dataset("mnist").train.x[gallery["train_indices"][5], 0].double().numpy()
    np.testing.assert_allclose(pixels["original"], original, atol=1e-6)
    par = gallery["parameters"]
    rows = {k.split(" ")[0]: v for k, v in pixels.items()}
    # rotation: scipy rotates counter-clockwise as displayed about the centre, bilinear, zero fill
    np.testing.assert_allclose(rows["rotation"], ndimage.rotate(original, par["rotation_deg"], reshape=False,
                                                                order=1, mode="constant"), atol=1e-5)
    # whole-pixel translation: the image moved (dx right, dy down), zeros entering
    dx, dy = par["shift_px"]
    np.testing.assert_allclose(rows["translation"], ndimage.shift(original, (dy, dx), order=0, mode="constant"),
                               atol=1e-6)
    # skew: out(x, y) = in(x − k·y, y) in centred coordinates
    k, c = par["skew"], (original.shape[0] - 1) / 2
    sheared = ndimage.affine_transform(original, np.array([[1.0, 0.0], [-k, 1.0]]), offset=(0.0, k * c), order=1,
                                       mode="constant")
    np.testing.assert_allclose(rows["skew"], sheared, atol=1e-5)
    assert np.abs(rows["elastic"] - original).max() > 0.1 and rows["elastic"].min() >= -1e-6


def test_augmentation_training_runs(augmentation):
    doc, _ = augmentation
    per = doc["summary"]["per_variant"]
    assert len(per) == 3 and len(doc["run_ids"]) == 3
    offline = [cfg for cfg in doc["configs"].values() if cfg.get("augment", {}).get("mode") == "offline"]
    online = [cfg for cfg in doc["configs"].values() if cfg.get("augment", {}).get("mode") == "online"]
    assert len(offline) == len(online) == 1
    for row in per.values():
        curve = row["curve_test_error"]
        assert len(curve) == doc["configs"]["original data"]["train"]["epochs"]
        assert all(0.0 <= e <= 1.0 for e in curve) and row["final_test_error"]["mean"] == curve[-1]
    assert "test error" in doc["reading"]
