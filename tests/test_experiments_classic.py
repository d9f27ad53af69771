"""The classic-comparison experiments in quick mode: nn-vs-svm, polynomial-degree, beyond-nets.

Each is run once (module-scoped fixture) and checked for its files, its plotted numbers,
and at least one claim against an independent reference: scikit-learn refits, NumPy's
polyfit and scikit-learn's Ridge for the closed-form polynomials, and properties the
notes predict (degree n − 1 interpolates; pruning shrinks the tree; strength raises
training error).
"""

from __future__ import annotations


import numpy as np
import pytest

from experiment_checks import check_figures, run_quick


def _run(tmp_path_factory, name: str) -> tuple[dict, object]:
    return run_quick(tmp_path_factory, name)


@pytest.fixture(scope="module")
def nn_vs_svm(tmp_path_factory):
    return _run(tmp_path_factory, "nn-vs-svm")


@pytest.fixture(scope="module")
def polynomial(tmp_path_factory):
    return _run(tmp_path_factory, "polynomial-degree")


@pytest.fixture(scope="module")
def beyond(tmp_path_factory):
    return _run(tmp_path_factory, "beyond-nets")


def _check_files(document: dict, folder) -> None:
    check_figures(document, folder)
    assert document["reading"] and "α" in document["summary"]["convention"]


# --- nn-vs-svm --------------------------------------------------------------------------------------------------

def test_nn_vs_svm_files_and_numbers(nn_vs_svm):
    document, folder = nn_vs_svm
    _check_files(document, folder)
    s = document["summary"]
    assert s["sizes"] == [100, 250, 500]
    for curve in (s["mlp"]["test_accuracy_mean"], s["svm"]["test_accuracy"]):
        assert len(curve) == 3 and all(0.1 < a <= 1.0 for a in curve)
    assert len(document["run_ids"]) == 3


def test_svm_matches_an_independent_refit(nn_vs_svm):
    """The SVM numbers are scikit-learn's SVC on the same first-n pixels and the same test images."""
    from sklearn.svm import SVC

    from reglab.data import load_mnist_sample

    s = nn_vs_svm[0]["summary"]
    splits = load_mnist_sample(n_train=250)
    x = splits.train.x.numpy().reshape(250, -1)
    x_test = splits.test.x.numpy().reshape(len(splits.test), -1)
    accuracy = SVC(C=1.0, kernel="rbf", gamma="scale").fit(x, splits.train.y.numpy()).score(x_test,
                                                                                           splits.test.y.numpy())
    assert s["svm"]["test_accuracy"][1] == pytest.approx(accuracy, abs=1e-9)


def test_more_data_helps_both_methods(nn_vs_svm):
    """Nielsen's figure: accuracy grows with the training set for both methods (100 → 500 is a large step)."""
    s = nn_vs_svm[0]["summary"]
    assert s["mlp"]["test_accuracy_mean"][-1] > s["mlp"]["test_accuracy_mean"][0] + 0.05
    assert s["svm"]["test_accuracy"][-1] > s["svm"]["test_accuracy"][0] + 0.05


# --- polynomial-degree ------------------------------------------------------------------------------------------

def test_polynomial_files_and_numbers(polynomial):
    document, folder = polynomial
    _check_files(document, folder)
    s = document["summary"]
    assert s["degrees"] == list(range(s["n_points"]))
    for row in s["per_alpha"].values():
        assert len(row["train_mse_mean"]) == len(row["test_mse_mean"]) == s["n_points"]
    curves = s["curves"]
    assert len(curves["x_grid"]) == len(curves["true"])
    assert all(len(v) == len(curves["x_grid"]) for fits in curves["fitted"].values() for v in fits.values())
    assert len(document["run_ids"]) == 2


def test_degree_n_minus_1_interpolates(polynomial):
    """The notes: a polynomial of degree n − 1 fits n points exactly (train error ≈ 0) yet fails on test data."""
    s = polynomial[0]["summary"]
    plain = s["per_alpha"]["0"]
    assert plain["train_mse_mean"][-1] < 1e-12
    assert plain["test_mse_mean"][-1] > 10 * min(plain["test_mse_mean"])
    assert np.all(np.diff(plain["train_mse_mean"]) <= 1e-12)  # nested least squares: more degree, no worse fit


def test_closed_form_matches_polyfit_and_ridge(polynomial):
    """Unpenalized fits equal NumPy's polyfit; penalized ones sklearn's Ridge(alpha = n·α), intercept free."""
    from sklearn.linear_model import Ridge

    s = polynomial[0]["summary"]
    x, y = np.asarray(s["curves"]["train_x"]), np.asarray(s["curves"]["train_y"])
    n, alpha = len(x), s["alpha"]
    for degree in (1, 3, 6):
        theta = np.asarray(s["theta_seed0"]["0"][degree])
        np.testing.assert_allclose(theta, np.polyfit(x, y, degree)[::-1], rtol=1e-6, atol=1e-8)
    for degree in (2, 5, n - 1):
        features = np.vander(x, degree + 1, increasing=True)[:, 1:]
        ridge = Ridge(alpha=n * alpha, fit_intercept=True, solver="svd").fit(features, y)
        theta = np.asarray(s["theta_seed0"][f"{alpha:g}"][degree])
        np.testing.assert_allclose(theta, np.r_[ridge.intercept_, ridge.coef_], rtol=1e-5, atol=1e-7)
        mse = np.mean((ridge.predict(features) - y) ** 2)
        assert s["per_alpha"][f"{alpha:g}"]["train_mse_mean"][degree] == pytest.approx(mse, rel=1e-6)


def test_stored_runs_reach_the_closed_form_with_lbfgs(polynomial):
    for row in polynomial[0]["summary"]["stored_runs"]:
        assert row["lbfgs_max_coef_error"] < 1e-6
        assert row["gd_objective"] >= row["min_objective"] - 1e-12  # nothing beats the minimizer


# --- beyond-nets ------------------------------------------------------------------------------------------------

def test_beyond_nets_files_and_numbers(beyond):
    document, folder = beyond
    _check_files(document, folder)
    for res in document["summary"]["datasets"].values():
        for row in res["methods"].values():
            assert len(row["train_error_mean"]) == len(row["test_error_mean"]) == len(row["strength"])


def test_pruning_shrinks_the_tree(beyond):
    """Cost-complexity pruning: leaves never increase with ccp_alpha, and the unpruned tree fits its training set."""
    for res in beyond[0]["summary"]["datasets"].values():
        tree = res["methods"]["tree"]
        assert tree["strength"][0] == 0.0
        assert np.all(np.diff(tree["leaves_mean"]) <= 0)
        assert tree["leaves_mean"][-1] < tree["leaves_mean"][0]
        assert tree["train_error_mean"][0] == 0.0
        assert np.all(np.diff(tree["train_error_mean"]) >= 0)


def test_strength_raises_training_error_on_digits(beyond):
    methods = beyond[0]["summary"]["datasets"]["digits"]["methods"]
    for row in methods.values():
        assert row["train_error_mean"][-1] > row["train_error_mean"][0] + 0.05, row["name"]


def test_svm_and_tree_match_independent_refits(beyond):
    """Refit one SVC and one tree directly from the digits split: the summary holds scikit-learn's numbers."""
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    from reglab.data import load_dataset

    splits = load_dataset("digits", seed=0, n_train=300)
    x, y = splits.train.x.numpy().reshape(300, -1), splits.train.y.numpy()
    x_test, y_test = splits.test.x.numpy().reshape(len(splits.test), -1), splits.test.y.numpy()
    methods = beyond[0]["summary"]["datasets"]["digits"]["methods"]
    svm, tree = methods["svm"], methods["tree"]
    i = 3
    fitted = SVC(kernel="linear", C=1.0 / svm["strength"][i]).fit(x, y)
    assert svm["test_error_mean"][i] == pytest.approx(1 - fitted.score(x_test, y_test), abs=1e-9)
    assert svm["support_vectors_mean"][i] == fitted.n_support_.sum()
    pruned = DecisionTreeClassifier(ccp_alpha=tree["strength"][i], random_state=0).fit(x, y)
    assert tree["leaves_mean"][i] == pruned.get_n_leaves()
    assert tree["test_error_mean"][i] == pytest.approx(1 - pruned.score(x_test, y_test), abs=1e-9)
