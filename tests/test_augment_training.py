"""Augmentation inside the training loop: online per batch, offline expansion, resumable."""

import torch

from reglab.config import parse_config
from reglab.train import Trainer, train


def _cfg(mode, **extra):
    return parse_config({"data": {"name": "digits", "n_train": 96}, "model": {"hidden": [8]},
                         "train": {"epochs": 2, "batch_size": 32},
                         "augment": {"mode": mode, "rotation": 10.0, "translation": 1, **extra}})


def test_offline_expansion_trains_on_copies_and_measures_on_the_original_split():
    trainer = Trainer(_cfg("offline", copies=2))
    assert len(trainer.fit_split) == 3 * 96
    assert len(trainer.data["train"]) == 96
    torch.testing.assert_close(trainer.fit_split.x[:96], trainer.data["train"].x)
    assert torch.equal(trainer.fit_split.y[96:192], trainer.data["train"].y)
    assert not torch.equal(trainer.fit_split.x[96:192], trainer.data["train"].x)


def test_online_augmentation_changes_training_and_is_seeded():
    plain = parse_config({**_cfg("online").model_dump(), "augment": None})
    a, b, c = train(_cfg("online")), train(_cfg("online")), train(plain)
    assert a.final == b.final
    assert a.final["train_loss"] != c.final["train_loss"]


def test_augmentation_needs_images():
    import pytest

    cfg = parse_config({"data": {"name": "circle"}, "augment": {"rotation": 5.0}})
    with pytest.raises(ValueError, match="image"):
        Trainer(cfg)


def test_resume_with_online_augmentation_reproduces_the_run(tmp_path):
    cfg = _cfg("online")
    full = train(cfg, out=tmp_path / "a")
    first = Trainer(cfg)
    first.run_epoch()
    state = first.state_dict()
    second = Trainer(cfg)
    second.load_state_dict(state)
    second.run_epoch()
    assert second.history[-1]["train_loss"] == full.history[-1]["train_loss"]
