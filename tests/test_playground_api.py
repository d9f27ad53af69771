"""The playground's HTTP API: 4xx errors naming the field, streams that train through Trainer and
do not mix, the cap of 20 sessions, live changes, export, and the CLI's host warning.

Streaming tests run a real uvicorn server on 127.0.0.1 (a free port) in a thread; the
numbers a stream sends are compared with a Trainer run independently on the same config.
"""

import io
import json
import os
import threading
import tomllib
import zipfile

import httpx
import hypothesis
import hypothesis.strategies as st
import pytest
import torch
from typer.testing import CliRunner

from reglab.config import parse_config
from reglab.experiments.playground_l2 import _config as experiment_config
from _polling import wait_for
from reglab.playground import CAPS, FEATURES, Setting, serve_in_thread
from reglab.train import Trainer, load_run, train

SMALL = {"dataset": "xor", "points": 40, "batch-size": 10, "hidden-layers": "3"}


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c


def read_events(url, until_epoch, *, timeout=60.0):
    """(kind, data) pairs from a session's event stream until an epoch event reaches ``until_epoch``."""
    out = []
    with httpx.stream("GET", url, timeout=timeout) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                out.append((kind, json.loads(line.removeprefix("data: "))))
                if kind == "epoch" and out[-1][1]["epoch"] >= until_epoch:
                    return out
    raise AssertionError(f"the stream ended before epoch {until_epoch}")


def reference_epochs(setting: dict, n: int) -> list[dict]:
    trainer = Trainer(Setting.from_query(setting).run_config())
    return [trainer.run_epoch().metrics for _ in range(n)]


# ------------------------------------------------------------------ settings


def test_a_setting_reads_back_from_its_url_and_stands_for_the_experiments_config():
    exercise = {"dataset": "xor", "noise": "40", "points": "160", "train-ratio": "30", "batch-size": "10",
                "features": ",".join(FEATURES), "hidden-layers": "", "learning-rate": "0.01", "seed": "0",
                "regularization": "l2", "rate": "0.3"}
    setting = Setting.from_query(exercise)
    assert Setting.from_query(setting.to_query()) == setting
    odd = Setting(noise=12.345678912345, rate=1e-7, learning_rate=0.1 + 0.2)
    assert Setting.from_query(odd.to_query()) == odd and odd.to_query()["rate"] == "1e-07"
    cfg, ref = setting.run_config(500), parse_config(experiment_config(0.3, 0, False))
    assert (cfg.data, cfg.model, cfg.regularizer) == (ref.data, ref.model, ref.regularizer)
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.epochs) == (0.01, 10, 500)


@pytest.mark.parametrize("regularization, rate, expected", [
    ("none", 0.3, []), ("l2", 0.0, []), ("l2", 0.3, [{"kind": "l2", "alpha": 0.3}]),
    ("l1", 0.01, [{"kind": "l1", "alpha": 0.01}]), ("l1-prox", 0.1, [{"kind": "l1_prox", "alpha": 0.1}]),
    ("weight-decay", 0.03, [{"kind": "weight_decay", "wd": 0.03}]), ("dropout", 0.5, [{"kind": "dropout", "p": 0.5}]),
])
def test_each_regularization_maps_to_its_config(regularization, rate, expected):
    assert Setting(regularization=regularization, rate=rate).regularizer_entries() == expected


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("body, field", [
    ({"rate": 99}, "rate"), ({"rate": -0.1}, "rate"), ({"rate": "lots"}, "rate"), ({"noise": 60}, "noise"),
    ({"noise": "nan"}, "noise"), ({"dataset": "moons"}, "dataset"), ({"hidden-layers": "4,99"}, "hidden-layers"),
    ({"hidden-layers": "2,2,2,2,2,2,2"}, "hidden-layers"), ({"hidden-layers": "a,b"}, "hidden-layers"),
    ({"features": ""}, "features"), ({"features": "x1,x3"}, "features"), ({"learning-rate": 0}, "learning-rate"),
    ({"learning-rate": 1e9}, "learning-rate"), ({"seed": -1}, "seed"), ({"points": 5}, "points"),
    ({"points": 10**7}, "points"), ({"batch-size": 0}, "batch-size"), ({"train-ratio": 95}, "train-ratio"),
    ({"activation": "gelu"}, "activation"), ({"regularization": "dropout", "rate": 1.0}, "rate"),
    ({"regularization": "dropout", "rate": 0.5, "hidden-layers": ""}, "regularization"),
    ({"regularisation": "l2"}, "regularisation"),
])
def test_bad_settings_get_a_4xx_json_error_naming_the_field(client, body, field):
    response = client.post("/api/sessions", json=body)
    assert 400 <= response.status_code < 500
    error = response.json()["error"]
    assert error["field"] == field
    assert field in error["message"] and error["kind"] == "config"


@pytest.mark.parametrize("raw, field", [(b"{not json", "body"), (b"[1, 2]", "body"), (b"\xff\xfe", "body")])
def test_a_malformed_body_is_a_400_naming_the_body(client, raw, field):
    response = client.post("/api/sessions", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["field"] == field


def test_bad_controls_changes_and_sessions_are_4xx_naming_the_field(client):
    sid = client.post("/api/sessions", json=SMALL).json()["session"]
    for body in ({"action": "fly"}, {"action": 3}, {}):
        response = client.post(f"/api/sessions/{sid}/control", json=body)
        assert response.status_code == 400 and response.json()["error"]["field"] == "action"
    response = client.patch(f"/api/sessions/{sid}/setting", json={"rate": 1e6})
    assert response.status_code == 422 and response.json()["error"]["field"] == "rate"
    assert client.get(f"/api/sessions/{sid}").json()["query"]["rate"] == "0"  # the session kept its setting
    for method, path in (("GET", "/api/sessions/nope"), ("GET", "/api/sessions/nope/events"),
                         ("POST", "/api/sessions/nope/control"), ("GET", "/api/sessions/nope/export"),
                         ("DELETE", "/api/sessions/nope")):
        response = client.request(method, path, json={"action": "start"})
        assert response.status_code == 404 and response.json()["error"]["field"] == "session", path
    assert client.get("/static/../../secrets").status_code == 404
    assert client.get("/static/other.js").json()["error"]["field"] == "path"


def test_the_page_ships_everything_it_needs_and_fetches_nothing_from_the_internet(client):
    page = client.get("/").text
    for name in ("app.js", "style.css"):
        assert f"/static/{name}" in page
        body = client.get(f"/static/{name}").text
        assert "http://" not in body and "https://" not in body and "@import" not in body
    assert "http://" not in page and "https://" not in page
    for testid in ("dataset", "noise", "train-ratio", "batch-size", "features", "hidden-layers", "activation",
                   "regularization", "rate", "learning-rate", "seed", "train-button", "reset", "step", "export",
                   "epoch", "train-loss", "test-loss", "penalty", "loss-chart", "boundary", "weights", "sparsity",
                   "weight-norm", "spectrum"):
        assert f'data-testid="{testid}"' in page, testid


# ------------------------------------------------------------------ streams


def test_a_stream_sends_every_epoch_with_the_numbers_of_a_trainer_run_on_the_same_config(server):
    setting = {**SMALL, "regularization": "l2", "rate": "0.1", "seed": "4"}
    described = httpx.post(f"{server}/api/sessions", json=setting).json()
    sid = described["session"]
    assert httpx.post(f"{server}/api/sessions/{sid}/control", json={"action": "start"}).json()["running"]
    events = read_events(f"{server}/api/sessions/{sid}/events", 6)
    epochs = [data for kind, data in events if kind == "epoch"]
    assert [e["epoch"] for e in epochs] == list(range(1, 7))
    for got, want in zip(epochs, reference_epochs(setting, 6)):
        for key in ("train_loss", "test_loss", "penalty", "weight_norm", "sparsity"):
            assert got[key] == want[key], key
    assert events[0][0] == "reset" and len(events[0][1]["points"]["train"]["x"]) == 20
    snapshot = next(data for kind, data in events if kind == "snapshot")
    assert len(snapshot["boundary"]) == 48 and snapshot["network"]["inputs"] == ["x₁", "x₂"]
    assert snapshot["spectrum"]["alpha"] == 0.1 and len(snapshot["spectrum"]["eigenvalues"]) == 8


def test_two_concurrent_streams_do_not_mix(server):
    settings = [{**SMALL, "seed": "1", "regularization": "l2", "rate": "0.3"},
                {**SMALL, "dataset": "circle", "seed": "2", "hidden-layers": "2,2", "learning-rate": "0.3"}]
    sids = [httpx.post(f"{server}/api/sessions", json=s).json()["session"] for s in settings]
    results = {}

    def consume(i):
        httpx.post(f"{server}/api/sessions/{sids[i]}/control", json={"action": "start"})
        results[i] = read_events(f"{server}/api/sessions/{sids[i]}/events", 8)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    for i, setting in enumerate(settings):
        epochs = [d for kind, d in results[i] if kind == "epoch"]
        assert [e["epoch"] for e in epochs] == list(range(1, 9))
        reset = results[i][0][1]
        assert reset["session"] == sids[i] and reset["query"]["dataset"] == setting["dataset"]
        for got, want in zip(epochs, reference_epochs(setting, 8)):
            assert (got["train_loss"], got["test_loss"]) == (want["train_loss"], want["test_loss"])


def test_twenty_sessions_are_served_at_once_and_the_twenty_first_is_refused(server):
    body = {"dataset": "gauss", "points": 20, "batch-size": 20, "hidden-layers": ""}
    sids = [httpx.post(f"{server}/api/sessions", json={**body, "seed": i}).json()["session"]
            for i in range(CAPS["sessions"])]
    refused = httpx.post(f"{server}/api/sessions", json=body)
    assert refused.status_code == 429
    assert refused.json()["error"]["field"] == "session" and "20 sessions" in refused.json()["error"]["message"]
    got = {}

    def consume(sid):
        httpx.post(f"{server}/api/sessions/{sid}/control", json={"action": "start"})
        got[sid] = read_events(f"{server}/api/sessions/{sid}/events", 3)

    threads = [threading.Thread(target=consume, args=(sid,)) for sid in sids]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    assert len(got) == 20
    for sid in sids:
        assert got[sid][0][1]["session"] == sid
        assert [d["epoch"] for k, d in got[sid] if k == "epoch"] == [1, 2, 3]
    # every stream closed with its consumer: the sessions ended, so new ones are served again
    assert wait_for(lambda: httpx.post(f"{server}/api/sessions", json=body).status_code == 201)


def test_a_closed_stream_stops_its_training_and_ends_the_session(server):
    sid = httpx.post(f"{server}/api/sessions", json=SMALL).json()["session"]
    httpx.post(f"{server}/api/sessions/{sid}/control", json={"action": "start"})
    read_events(f"{server}/api/sessions/{sid}/events", 2)
    assert wait_for(lambda: httpx.get(f"{server}/api/sessions/{sid}").status_code == 404)
    assert httpx.post(f"{server}/api/sessions/{sid}/control", json={"action": "start"}).status_code == 404


def test_a_second_stream_on_one_session_is_refused(server):
    sid = httpx.post(f"{server}/api/sessions", json=SMALL).json()["session"]
    with httpx.stream("GET", f"{server}/api/sessions/{sid}/events", timeout=30) as first:
        lines = first.iter_lines()  # held: a dropped iterator closes the response
        assert next(lines).startswith(":")
        second = httpx.get(f"{server}/api/sessions/{sid}/events", timeout=30)
        assert second.status_code == 409 and second.json()["error"]["field"] == "session"


def test_changing_the_rate_goes_on_from_the_current_weights_and_marks_the_epoch(server):
    setting = {**SMALL, "regularization": "l2", "rate": "0.01", "seed": "5"}
    sid = httpx.post(f"{server}/api/sessions", json=setting).json()["session"]
    for _ in range(3):
        httpx.post(f"{server}/api/sessions/{sid}/control", json={"action": "step"})
    changed = httpx.patch(f"{server}/api/sessions/{sid}/setting", json={"regularization": "l1-prox", "rate": 0.3})
    assert changed.json()["applied"] == "live" and changed.json()["epoch"] == 3
    assert changed.json()["query"]["regularization"] == "l1-prox"
    httpx.post(f"{server}/api/sessions/{sid}/control", json={"action": "start"})
    events = read_events(f"{server}/api/sessions/{sid}/events", 6)
    kinds = [k for k, _ in events]
    assert kinds.count("reset") == 1  # only the stream's opening description: no reset
    mark = next(d for k, d in events if k == "mark")
    assert mark["epoch"] == 3 and mark["label"] == "L2 0.01 → L1-prox 0.3"
    epochs = [d for k, d in events if k == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5, 6]
    assert epochs[-1]["sparsity"] > 0 and epochs[2]["sparsity"] == 0
    # the reference: three epochs of L2, then a fresh L1-prox trainer handed the state
    first = Trainer(Setting.from_query(setting).run_config())
    for _ in range(3):
        first.run_epoch()
    second = Trainer(Setting.from_query({**setting, "regularization": "l1-prox", "rate": "0.3"}).run_config())
    second.model.load_state_dict(first.model.state_dict())
    second.generator.set_state(first.generator.get_state())
    for got in epochs[3:]:
        assert got["train_loss"] == second.run_epoch().metrics["train_loss"]


def test_other_changes_reset_the_session(server):
    sid = httpx.post(f"{server}/api/sessions", json=SMALL).json()["session"]
    httpx.post(f"{server}/api/sessions/{sid}/control", json={"action": "step"})
    changed = httpx.patch(f"{server}/api/sessions/{sid}/setting", json={"dataset": "spiral"}).json()
    assert changed["applied"] == "reset" and changed["epoch"] == 0
    httpx.delete(f"{server}/api/sessions/{sid}")


def test_export_holds_a_config_that_reproduces_the_run_and_the_weights(server, tmp_path):
    setting = {**SMALL, "regularization": "weight-decay", "rate": "0.1", "seed": "7", "features": "x1,x2"}
    sid = httpx.post(f"{server}/api/sessions", json=setting).json()["session"]
    for _ in range(4):
        httpx.post(f"{server}/api/sessions/{sid}/control", json={"action": "step"})
    toml_text = httpx.get(f"{server}/api/sessions/{sid}/config.toml").text
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(f"{server}/api/sessions/{sid}/export").content))
    assert sorted(archive.namelist()) == ["checkpoint.pt", "config.toml", "playground.json"]
    assert archive.read("config.toml").decode() == toml_text
    cfg = parse_config(tomllib.loads(toml_text))
    assert cfg.train.epochs == 4 and cfg.regularizer[0].kind == "weight_decay"
    trainer = Trainer(cfg)  # what `reglab train config.toml` runs, epoch by epoch
    for _ in range(cfg.train.epochs):
        final = trainer.run_epoch().metrics
    info = json.loads(archive.read("playground.json"))
    assert info["final"]["train_loss"] == final["train_loss"] and info["epoch"] == 4
    folder = tmp_path / "run"
    archive.extractall(folder)
    model, _, _ = load_run(folder)  # the zip is a run folder: config.toml + checkpoint.pt
    for (name, p), q in zip(model.named_parameters(), trainer.model.parameters()):
        assert torch.equal(p, q.detach()), name
    httpx.delete(f"{server}/api/sessions/{sid}")


@pytest.mark.parametrize("features, hidden", [("sinx1,x1x2", ""), ("x2,x1sq,sinx2", "3")])
def test_a_subset_of_features_trains_on_those_inputs_and_its_export_retrains_to_the_streamed_numbers(
        server, tmp_path, features, hidden):
    setting = {**SMALL, "features": features, "hidden-layers": hidden, "regularization": "l2", "rate": "0.05",
               "seed": "2"}
    chosen = [f for f in FEATURES if f in features.split(",")]
    sid = httpx.post(f"{server}/api/sessions", json=setting).json()["session"]
    for _ in range(5):
        httpx.post(f"{server}/api/sessions/{sid}/control", json={"action": "step"})
    toml_text = httpx.get(f"{server}/api/sessions/{sid}/config.toml").text
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(f"{server}/api/sessions/{sid}/export").content))
    events = read_events(f"{server}/api/sessions/{sid}/events", 5)  # the stepped epochs, as the page gets them
    epochs = [data for kind, data in events if kind == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5]
    cfg = parse_config(tomllib.loads(toml_text))
    assert cfg.model.features == "playground" and cfg.model.feature_names == chosen and cfg.train.epochs == 5
    result = train(cfg)  # what `reglab train config.toml` runs
    assert result.status == "completed" and len(result.history) == 5
    for got, want in zip(epochs, result.history, strict=True):
        for key in ("epoch", "train_loss", "test_loss", "penalty", "weight_norm", "sparsity"):
            assert got[key] == want[key], key
    folder = tmp_path / "run"
    archive.extractall(folder)
    model, _, _ = load_run(folder)  # the exported weights are the retrained run's final weights
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert model[1].names == tuple(chosen) and layers[0].in_features == len(chosen)
    for (name, p), q in zip(model.named_parameters(), result.model.parameters(), strict=True):
        assert torch.equal(p, q.detach()), name


# ------------------------------------------------------------------ CLI


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("::1", False), ("localhost", False),
                                          ("0.0.0.0", True), ("192.168.1.5", True)])
def test_the_cli_binds_loopback_by_default_and_warns_otherwise(monkeypatch, host, warned):
    import uvicorn

    from reglab.cli import app

    monkeypatch.setenv("REGLAB_PLAYGROUND_HOSTS", "")
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    result = CliRunner().invoke(app, ["playground", "--host", host, "--port", "8799"])
    assert result.exit_code == 0, result.output
    assert calls[0][1]["host"] == host and calls[0][1]["port"] == 8799 and calls[0][1]["factory"] is True
    assert ("warning" in result.output) == warned
    assert os.environ["REGLAB_PLAYGROUND_HOSTS"] == ("*" if warned else "")
    default = CliRunner().invoke(app, ["playground"])
    assert calls[1][1]["host"] == "127.0.0.1" and calls[1][1]["port"] == 8765 and "warning" not in default.output


def test_open_starts_the_browser_on_the_served_address(monkeypatch):
    import uvicorn

    import reglab.cli._playground as command
    from reglab.cli import app

    opened = []

    class Now:  # threading.Timer, without the wait
        def __init__(self, delay, func, args):
            self.func, self.args = func, args

        def start(self):
            self.func(*self.args)

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    monkeypatch.setattr(command.threading, "Timer", Now)
    monkeypatch.setattr(command.webbrowser, "open", opened.append)
    assert CliRunner().invoke(app, ["playground", "--open", "--port", "9001"]).exit_code == 0
    assert opened == ["http://127.0.0.1:9001/"]
    bad = CliRunner().invoke(app, ["playground", "--port", "70000"])
    assert bad.exit_code == 2


def test_a_diverged_run_stops_with_the_reason_and_starts_no_more(monkeypatch):
    from reglab.playground import Session
    from reglab.train import EpochResult

    session = Session("s", Setting.from_query(SMALL))
    monkeypatch.setattr(session.trainer, "run_epoch", lambda: EpochResult(None, diverged="non-finite training loss"))
    session.control("start")
    session.train_for(0.01)
    events = session.drain()
    assert events[-1] == ("stopped", {"reason": "non-finite training loss"})
    assert session.control("start")["running"] is False and session.status()["stopped"]
    assert session.update({"rate": "0.1"})["applied"] == "reset"  # a stopped run is rebuilt, not continued
    assert session.stopped is None and session.trainer.epoch == 0


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(st.dictionaries(st.sampled_from([*Setting.model_fields, "train-ratio", "hidden-layers", "x"]),
                                  st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6),
                                            st.floats(allow_nan=True), st.none(), st.lists(st.integers(-3, 30))),
                                  max_size=5))
def test_any_query_is_a_setting_or_a_config_error_naming_a_field(query):
    from reglab.errors import ConfigError

    try:
        setting = Setting.from_query(query)
    except ConfigError as exc:
        assert exc.field is None or exc.field.replace("-", "_") in Setting.model_fields or exc.field == "x"
        assert exc.field is None or str(exc).startswith(exc.field)
    else:
        assert Setting.from_query(setting.to_query()) == setting
        setting.run_config()  # and every valid setting is a valid run config


def test_switching_to_dropout_and_back_goes_on_with_the_same_weights():
    from reglab.playground import Session

    session = Session("s", Setting.from_query({**SMALL, "regularization": "l2", "rate": "0.01"}))
    for _ in range(2):
        session.control("step")
    before = session.snapshot(False)["network"]["layers"]
    assert session.update({"regularization": "dropout", "rate": "0.5"})["applied"] == "live"
    assert session.snapshot(False)["network"]["layers"] == before  # no reset: the same weights
    assert session.trainer.cfg.regularizer[0].kind == "dropout"
    assert any(type(m).__name__ == "DropoutLayer" for m in session.trainer.model.modules())
    session.control("step")
    assert session.update({"regularization": "weight-decay", "rate": "0.1"})["applied"] == "live"
    session.control("step")
    assert session.trainer.epoch == 4 and [m["epoch"] for m in session.marks] == [2, 3]
    assert session.snapshot(True)["spectrum"]["alpha"] == 0.1  # weight decay's wd is the L2 α (plain SGD)
    epochs = [d["epoch"] for k, d in session.drain() if k == "epoch"]
    assert epochs == [1, 2, 3, 4]


def test_sessions_never_streamed_expire_and_free_their_place():
    import time

    from reglab.playground import SessionManager, TooManySessions

    manager = SessionManager(max_sessions=2, idle_timeout=0.2)
    first = manager.create(Setting.from_query(SMALL))
    manager.create(Setting.from_query(SMALL))
    with pytest.raises(TooManySessions):
        manager.create(Setting.from_query(SMALL))
    time.sleep(0.3)
    manager.create(Setting.from_query(SMALL))
    assert first.closed and len(manager) == 1


def test_only_json_bodies_are_read_so_other_sites_cannot_drive_sessions(client):
    for headers in ({"content-type": "application/x-www-form-urlencoded"}, {"content-type": "text/plain"}, {}):
        response = client.post("/api/sessions", content=b'{"dataset": "xor"}', headers=headers)
        assert response.status_code == 415 and response.json()["error"]["field"] == "content-type"
    sid = client.post("/api/sessions", json=SMALL).json()["session"]
    response = client.post(f"/api/sessions/{sid}/control", content=b'{"action": "start"}',
                           headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert client.get(f"/api/sessions/{sid}").json()["running"] is False
    client.delete(f"/api/sessions/{sid}")


def test_requests_naming_another_host_are_refused(server, monkeypatch):
    for host in ("evil.example", "evil.example:80", "10.0.0.1:8765"):
        response = httpx.get(f"{server}/api/options", headers={"host": host})
        assert response.status_code == 400 and response.json()["error"]["field"] == "host", host
    port = server.rpartition(":")[2]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert httpx.get(f"{server}/api/options", headers={"host": host}).status_code == 200, host
    monkeypatch.setenv("REGLAB_PLAYGROUND_HOSTS", "*")  # what `reglab playground --host 0.0.0.0` sets
    with serve_in_thread(manager=None) as other:
        assert httpx.get(f"{other}/api/options", headers={"host": "10.0.0.1:8765"}).status_code == 200
