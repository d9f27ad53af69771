"""``reglab runs export --mlflow / --tensorboard``, read back with the real packages and compared to the store.

MLflow's client (``search_runs``, ``get_metric_history``) and TensorBoard's ``EventAccumulator``
read what the export wrote; the expected values are the store's own per-epoch rows and the
run's stored config, flattened here by hand-written keys.
"""

from __future__ import annotations

import os
import sys

import pytest

from _cli_harness import TINY_CONFIG, assert_no_traceback, error_document, invoke, run_document
from reglab._version import __version__
from reglab.config import parse_config
from reglab.store import RunStore
from reglab.sweep import parse_sweep, run_sweep
from reglab.train import train

mlflow_tracking = pytest.importorskip("mlflow.tracking")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

BASE = {"name": "export-sweep", "data": {"name": "digits", "n_train": 120}, "model": {"hidden": [8]},
        "train": {"epochs": 3, "batch_size": 32, "lr": 0.1, "device": "cpu"},
        "regularizer": [{"kind": "l2", "alpha": 0.0}]}
AXES = {"regularizer.0.alpha": [0.0, 1e-2], "train.seed": [0, 1]}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("store")
    sweep = parse_sweep({**BASE, "sweep": AXES})
    run_sweep(sweep, out=out, executor="vectorized")
    import tomllib
    single = train(parse_config(tomllib.loads(TINY_CONFIG)), out=out)
    return out, sweep, single.run_id


def client_for(folder, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 reads its file store only with this
    return mlflow_tracking.MlflowClient(tracking_uri=folder.resolve().as_uri())


def sweep_runs(out, sweep_id):
    return [r for r in RunStore(out).list_runs() if r["tags"].get("sweep") == sweep_id]


def test_mlflow_gets_one_run_per_stored_run_with_params_metrics_and_tags(store_dir, tmp_path, monkeypatch):
    out, sweep, _ = store_dir
    target = tmp_path / "mlruns"
    done = invoke(["runs", "export", sweep.id, "--out", out, "--mlflow", target, "--json"])
    assert done.code == 0, done
    assert os.environ.get("MLFLOW_ALLOW_FILE_STORE") is None  # the export set it for itself only
    doc = run_document(done)["mlflow"]
    stored = {r["id"]: r for r in sweep_runs(out, sweep.id)}
    assert set(doc["exported"]) == set(stored) and doc["skipped"] == [] and doc["name"] == sweep.id
    client = client_for(target, monkeypatch)
    experiment = client.get_experiment_by_name(sweep.id)
    found = client.search_runs([experiment.experiment_id])
    assert len(found) == 4
    store = RunStore(out)
    for ml in found:
        run = stored[ml.data.tags["reglab.run_id"]]
        assert doc["exported"][run["id"]] == ml.info.run_id
        tags = ml.data.tags
        assert tags["reglab.sweep"] == sweep.id and tags["reglab.status"] == "completed"
        assert int(tags["reglab.sweep_point"]) == run["tags"]["sweep_point"]
        assert tags["reglab.version"] == __version__ and ml.info.run_name == run["id"]
        assert ml.info.status == "FINISHED"
        params = ml.data.params
        axes = run["tags"]["axes"]
        assert params["regularizer.0.alpha"] == str(axes["regularizer.0.alpha"])
        assert params["train.seed"] == str(axes["train.seed"])
        assert params["train.lr"] == "0.1" and params["model.hidden"] == "[8]" and params["data.name"] == "digits"
        assert params["regularizer.0.kind"] == "l2" and params["train.epochs"] == "3"
        history = store.metrics(run["id"])
        assert len(history) == 3
        for metric in ("test_error", "train_loss", "weight_norm"):
            points = client.get_metric_history(ml.info.run_id, metric)
            assert sorted((m.step, m.value) for m in points) == [(h["epoch"], h[metric]) for h in history]


def test_a_second_mlflow_export_writes_nothing_twice_and_a_run_gets_its_name(store_dir, tmp_path, monkeypatch):
    out, sweep, single = store_dir
    target = tmp_path / "mlruns"
    assert invoke(["runs", "export", sweep.id, "--out", out, "--mlflow", target]).code == 0
    again = invoke(["runs", "export", sweep.id, "--out", out, "--mlflow", target, "--json"])
    assert again.code == 0 and run_document(again)["mlflow"]["exported"] == {}, again
    assert len(run_document(again)["mlflow"]["skipped"]) == 4
    one = invoke(["runs", "export", single[:8], "--out", out, "--mlflow", target, "--json"])
    assert one.code == 0, one
    client = client_for(target, monkeypatch)
    experiment = client.get_experiment_by_name("tiny")  # TINY_CONFIG's name
    (ml,) = client.search_runs([experiment.experiment_id])
    assert ml.data.tags["reglab.run_id"] == single and "reglab.sweep" not in ml.data.tags
    assert ml.data.params["regularizer.0.alpha"] == "0.001"
    assert len(client.search_runs([client.get_experiment_by_name(sweep.id).experiment_id])) == 4


def hparams(acc) -> dict:
    """The hparams of a TensorBoard run, as its HParams dashboard reads them (the session start info)."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    return {k: v.number_value if v.HasField("number_value") else v.string_value
            for k, v in data.session_start_info.hparams.items()}


def test_tensorboard_gets_one_folder_per_run_with_each_epochs_scalars(store_dir, tmp_path):
    out, sweep, _ = store_dir
    target = tmp_path / "tb"
    done = invoke(["runs", "export", sweep.id, "--out", out, "--tensorboard", target, "--json"])
    assert done.code == 0, done
    stored = sweep_runs(out, sweep.id)
    assert sorted(p.name for p in target.iterdir()) == sorted(r["id"] for r in stored)
    store = RunStore(out)
    for run in stored:
        acc = event_accumulator.EventAccumulator(str(target / run["id"]))
        acc.Reload()
        history = store.metrics(run["id"])
        for metric in ("test_error", "train_loss", "val_error"):
            scalars = acc.Scalars(metric)
            assert [s.step for s in scalars] == [h["epoch"] for h in history]
            assert [s.value for s in scalars] == pytest.approx([h[metric] for h in history], rel=1e-6)  # float32
        assert hparams(acc) == run["tags"]["axes"]
        final = acc.Scalars("final/test_error")
        assert final[0].value == pytest.approx(run["final"]["test_error"], rel=1e-6)
    again = invoke(["runs", "export", sweep.id, "--out", out, "--tensorboard", target, "--json"])
    assert run_document(again)["tensorboard"]["exported"] == {} and len(list(target.iterdir())) == 4


def test_a_missing_extra_is_an_error_naming_it(store_dir, tmp_path, monkeypatch):
    out, sweep, _ = store_dir
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    bad = invoke(["runs", "export", sweep.id, "--out", out, "--mlflow", tmp_path / "m", "--json"])
    assert bad.code == 2 and "reglab[mlflow]" in error_document(bad)["message"], bad
    assert error_document(bad)["field"] == "--mlflow"
    assert_no_traceback(bad)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    bad = invoke(["runs", "export", sweep.id, "--out", out, "--tensorboard", tmp_path / "t"])
    assert bad.code == 2 and "reglab[tensorboard]" in bad.stderr, bad
    assert not (tmp_path / "t").exists()


def test_an_unknown_id_names_the_known_sweeps(store_dir, tmp_path):
    out, sweep, _ = store_dir
    bad = invoke(["runs", "export", "nope", "--out", out, "--mlflow", tmp_path / "m", "--json"])
    assert bad.code == 2 and sweep.id in error_document(bad)["message"], bad
    assert_no_traceback(bad)


def test_csv_export_of_a_sweep_says_how_to_export_one(store_dir):
    out, sweep, _ = store_dir
    bad = invoke(["runs", "export", sweep.id, "--out", out, "--csv"])
    assert bad.code == 2 and "--mlflow" in bad.stderr and "--tensorboard" in bad.stderr, bad
    assert_no_traceback(bad)


def test_csv_export_of_a_run_is_unchanged(store_dir):
    out, _, single = store_dir
    done = invoke(["runs", "export", single, "--out", out, "--csv"])
    lines = done.stdout.splitlines()
    assert done.code == 0 and lines[0].split(",")[0] == "epoch" and len(lines) == 2  # header + one epoch
    as_json = run_document(invoke(["runs", "export", single, "--out", out, "--json"]))
    assert as_json["run_id"] == single and as_json["history"] == RunStore(out).metrics(single)


def test_a_diverged_run_is_a_failed_mlflow_run_with_its_reason(tmp_path, monkeypatch):
    import tomllib

    out = tmp_path / "store"
    config = parse_config(tomllib.loads(TINY_CONFIG.replace("lr = 0.1", "lr = 1e8")))
    run_id = train(config, out=out).run_id
    stored = RunStore(out).get_run(run_id)
    assert stored["status"] == "diverged"
    done = invoke(["runs", "export", run_id, "--out", out, "--mlflow", tmp_path / "mlruns",
                   "--tensorboard", tmp_path / "tb", "--json"])
    assert done.code == 0, done
    client = client_for(tmp_path / "mlruns", monkeypatch)
    (ml,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert ml.info.status == "FAILED" and ml.data.tags["reglab.status"] == "diverged"
    assert ml.data.tags["reglab.reason"] == stored["reason"]
    acc = event_accumulator.EventAccumulator(str(tmp_path / "tb" / run_id))
    acc.Reload()
    assert [t for t in acc.Tags()["scalars"] if not t.startswith("final/")] == [
        k for row in RunStore(out).metrics(run_id) for k in row if k != "epoch"]
