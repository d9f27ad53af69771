"""The nielsen-overfitting experiment, quick: Nielsen's setting as configured, and its summary's numbers."""

import math

import pytest

import reglab.experiments.nielsen_overfitting as nielsen  # registers the experiment
from experiment_checks import check_figures, run_quick
from reglab.config import parse_config


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    return run_quick(tmp_path_factory, "nielsen-overfitting")


def test_the_configured_setting_is_nielsens():
    cfg = parse_config(nielsen._config("normal", True, 0, quick=False))
    assert (cfg.model.hidden, cfg.model.activation, cfg.model.init) == ([30], "sigmoid", "normal")
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.epochs, cfg.data.n_train) == (0.5, 10, 400, 1000)
    assert cfg.train.loss == "sigmoid_cross_entropy" and cfg.train.optimizer == "sgd" and cfg.train.momentum == 0
    (l2,) = cfg.regularizer
    assert (l2.kind, l2.alpha, l2.convention) == ("l2", 0.1, "nielsen")  # α = λ/n = 1e-4 on 1,000 images


def test_quick_run_summary_figures_and_reading(stored):
    document, folder = stored
    summary = document["summary"]
    assert set(summary["variants"]) == {"normal/none", "normal/l2", "nielsen/none", "nielsen/l2"}
    epochs = summary["setting"]["epochs"]
    for key, v in summary["variants"].items():
        curves = v["curves"]
        assert set(curves) == {"training_cost", "test_accuracy", "test_cost", "training_accuracy", "weight_norm"}
        assert all(len(c) == epochs for c in curves.values())
        assert all(0 <= a <= 1 for a in curves["test_accuracy"] + curves["training_accuracy"])
        assert v["final_test_accuracy"]["mean"] == curves["test_accuracy"][-1]
    # E‖w‖² of N(0, 1) weights is the number of weights, 784·30 + 30·10; of N(0, 1/n_in) it is 30 + 10
    normal0 = summary["variants"]["normal/none"]["initial_weight_norm"]["mean"]
    scaled0 = summary["variants"]["nielsen/none"]["initial_weight_norm"]["mean"]
    assert normal0 == pytest.approx(math.sqrt(784 * 30 + 300), rel=0.02)
    assert scaled0 == pytest.approx(math.sqrt(40), rel=0.1)
    # L2 shrinks the weights; its training cost includes the penalty (λ/2n)‖w‖², so it exceeds the data cost
    v = summary["variants"]
    assert v["normal/l2"]["final_weight_norm"]["mean"] < v["normal/none"]["final_weight_norm"]["mean"]
    alpha = summary["setting"]["alpha"]
    assert alpha == pytest.approx(0.1 / summary["setting"]["n_train"])
    gain = v["normal/l2"]["final_test_accuracy"]["mean"] - v["normal/none"]["final_test_accuracy"]["mean"]
    assert summary["l2_gain"]["normal"] == pytest.approx(gain)
    check_figures(document, folder, {"curves", "weight_norm"})
    assert "82.27%" in document["reading"] and "quick version" in document["reading"]
