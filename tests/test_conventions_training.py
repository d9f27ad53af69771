"""Equivalent strengths in different conventions give identical training trajectories."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from reglab.config import parse_config
from reglab.curvature import Objective
from reglab.data import load_dataset
from reglab.regularize import L2, WeightDecay
from reglab.regularize.conventions import convert
from reglab.train import Trainer, half_mse
from reglab.verify import minimize_lbfgs

ALPHA = 0.02


def _cfg():
    return parse_config({"data": {"name": "digits", "n_train": 160}, "model": {"hidden": [8]},
                         "train": {"epochs": 3, "batch_size": 32, "lr": 0.1, "dtype": "float64", "seed": 4}})


def _trajectory(trainer):
    out = []
    for _ in range(3):
        trainer.run_epoch()
        out.append(torch.cat([p.detach().reshape(-1).clone() for p in trainer.model.parameters()]))
    return torch.stack(out)


def test_reglab_nielsen_torch_and_decoupled_sgd_trajectories_are_identical():
    cfg = _cfg()
    n = 160
    reference = _trajectory(Trainer(cfg, regularizer=L2(alpha=ALPHA)))

    lam = convert(ALPHA, "reglab", "nielsen", n=n)
    assert lam == pytest.approx(ALPHA * n)
    nielsen = _trajectory(Trainer(cfg, regularizer=L2(alpha=lam, convention="nielsen")))

    wd = convert(ALPHA, "reglab", "torch")
    plain = Trainer(cfg)
    weights = [p for name, p in plain.model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in plain.model.named_parameters() if name.endswith("bias")]
    plain.optimizer = torch.optim.SGD([{"params": weights, "weight_decay": wd}, {"params": biases}], lr=0.1)
    torch_wd = _trajectory(plain)

    decoupled = _trajectory(Trainer(cfg, regularizer=WeightDecay(wd=convert(ALPHA, "reglab", "adamw"))))

    playground = _trajectory(Trainer(cfg, regularizer=L2(alpha=convert(ALPHA, "reglab", "playground"))))

    for other in (nielsen, torch_wd, decoupled, playground):
        torch.testing.assert_close(other, reference, rtol=1e-11, atol=1e-13)


def test_sklearn_ridge_alpha_gives_the_same_minimizer():
    splits = load_dataset("linear", dim=5, n=80, seed=2)
    model = torch.nn.Linear(5, 1, bias=False)
    obj = Objective(torch.nn.Sequential(model), half_mse, (splits.train.x, splits.train.y), dtype=torch.float64,
                    penalized=["0.weight"])
    fit = minimize_lbfgs(obj, obj.vector(), ALPHA, tol=1e-12)
    ridge = Ridge(alpha=convert(ALPHA, "reglab", "sklearn-ridge", n=80), fit_intercept=False, solver="cholesky")
    ridge.fit(splits.train.x.double().numpy(), splits.train.y.double().numpy()[:, 0])
    np.testing.assert_allclose(fit.w.numpy(), ridge.coef_, rtol=1e-8, atol=1e-10)
