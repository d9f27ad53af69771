"""The bad-input suite (issue 9): every bad input a clear one-line error, never a traceback.

Each case runs one ``reglab`` command (in process, as a user would type it) against a fresh
results folder and asserts

* the exit code of the one table: 0 completed, 1 internal error, 2 bad input, 3 diverged,
  4 interrupted;
* that no traceback reaches the user (in process: no exception escapes the command);
* that the message names the field (the config key, option, file or command to fix it), and,
  with ``--json``, that stdout is one document ``{"error": {"kind", "message", "field"}}``.

Placeholders in a case's arguments: ``{cfg}`` a tiny valid config, ``{noreg}`` the same without
regularizers, ``{resumable}`` a 3-epoch config with an interrupted run stored in ``{out}``,
``{out}`` the results folder, ``{tmp}`` the test's folder, ``{mnist}`` a folder of made-up MNIST
IDX files, ``{run}`` the id of a completed run in ``{out}``, ``{irun}`` the interrupted one's.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from _cli_harness import (
    TINY_CONFIG,
    assert_no_traceback,
    error_document,
    flat,
    invoke,
    norm_key,
    run_document,
    run_process,
    write_fake_mnist,
    write_float_idx,
)

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A results folder with one completed run of ``{cfg}`` and one interrupted run of ``{resumable}``.

    Built once per module (two tiny trainings); each case works on its own copy.
    """
    root = tmp_path_factory.mktemp("template")
    (root / "tiny.toml").write_text(TINY_CONFIG, encoding="utf-8")
    (root / "resumable.toml").write_text(TINY_CONFIG.replace("epochs = 1", "epochs = 3"), encoding="utf-8")
    out = root / "out"
    done = invoke(["train", root / "tiny.toml", "--out", out, "--json", "--quiet"])
    assert done.code == 0, repr(done)
    run_id = run_document(done)["run_id"]

    from reglab.config import load_config
    from reglab.train import train

    def stop_after_first_epoch(epoch, total, metrics):
        if epoch == 1:
            raise KeyboardInterrupt  # what Ctrl-C does: the run is left resumable, checkpoint of epoch 1 on disk

    with pytest.raises(KeyboardInterrupt):
        train(load_config(root / "resumable.toml"), out=out, progress=stop_after_first_epoch)
    with sqlite3.connect(out / "runs.db") as con:
        (irun,) = con.execute("SELECT id FROM runs WHERE id != ?", (run_id,)).fetchone()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return {"root": root, "out": out, "run": run_id, "irun": irun}


@dataclass
class Ctx:
    tmp: Path
    out: Path
    run: str
    irun: str
    monkeypatch: pytest.MonkeyPatch
    values: dict[str, str] = field(default_factory=dict)

    def fill(self, arg: str) -> str:
        for key, value in self.values.items():
            arg = arg.replace("{" + key + "}", value)
        return arg

    @property
    def db(self) -> Path:
        return self.out / "runs.db"

    def checkpoint(self, run_id: str | None = None) -> Path:
        return self.out / "runs" / (run_id or self.irun) / "checkpoint.pt"


@pytest.fixture
def ctx(tmp_path, template, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a command that ignored --out would write here, not into the checkout
    monkeypatch.delenv("REGLAB_DATA", raising=False)
    root = template["root"]
    for name in ("tiny.toml", "resumable.toml"):
        shutil.copy(root / name, tmp_path / name)
    (tmp_path / "noreg.toml").write_text(TINY_CONFIG.split("[[regularizer]]")[0], encoding="utf-8")
    out = tmp_path / "out"
    c = Ctx(tmp_path, out, template["run"], template["irun"], monkeypatch)
    c.values = {"cfg": str(tmp_path / "tiny.toml"), "noreg": str(tmp_path / "noreg.toml"),
                "resumable": str(tmp_path / "resumable.toml"), "out": str(out), "tmp": str(tmp_path),
                "mnist": str(tmp_path / "mnist"), "run": c.run, "irun": c.irun}
    return c


def _with_store(c: Ctx, template_out: Path) -> None:
    shutil.copytree(template_out, c.out)


# --------------------------------------------------------------------------- setups


def _write(name: str, content: str | bytes) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        path = c.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return setup


def _tiny_with(old: str, new: str) -> Callable[[Ctx], None]:
    """``bad.toml``: the tiny config with the line ``old`` replaced by ``new``."""
    def setup(c: Ctx) -> None:
        assert old in TINY_CONFIG, old
        (c.tmp / "bad.toml").write_text(TINY_CONFIG.replace(old, new), encoding="utf-8")
    return setup


def _mkdir(name: str) -> Callable[[Ctx], None]:
    return lambda c: (c.tmp / name).mkdir(parents=True)


def _mnist(mutate: Callable[[Path], None] | None = None) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        folder = write_fake_mnist(c.tmp / "mnist")
        (c.tmp / "mnist.toml").write_text(
            TINY_CONFIG.replace('name = "digits"', 'name = "mnist-full"\nverify_checksums = false')
            .replace("n_train = 200", "n_train = 60"), encoding="utf-8")
        if mutate:
            mutate(folder)
    return setup


def _bad_label(folder: Path) -> None:
    from reglab.data import write_idx

    labels = np.arange(120) % 10
    labels[7] = 11
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)


def _truncate_gz(folder: Path) -> None:
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])


def _nan_images(folder: Path) -> None:
    images = np.random.default_rng(0).uniform(0, 255, (30, 28, 28))
    images[3, 5, 5] = np.nan
    (folder / "t10k-images-idx3-ubyte").unlink()
    write_float_idx(folder / "t10k-images-idx3-ubyte", images)


def _bad_magic(folder: Path) -> None:
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x01\x02\x03\x04" * 10)


def _few_labels(folder: Path) -> None:
    from reglab.data import write_idx

    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(25) % 10)


def _missing_file(folder: Path) -> None:
    (folder / "t10k-labels-idx1-ubyte").unlink()


def _store(extra: Callable[[Ctx], None] | None = None) -> Callable[[Ctx], None]:
    """Marker setup: the case starts from a copy of the template results folder (done by the test)."""
    def setup(c: Ctx) -> None:
        if extra:
            extra(c)
    setup.needs_store = True  # type: ignore[attr-defined]
    return setup


def _drop_wal(c: Ctx) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(c.db) + suffix).unlink(missing_ok=True)


def _db_not_a_database(c: Ctx) -> None:
    _drop_wal(c)
    c.db.write_bytes(b"this is not an SQLite database\n" * 200)


def _db_corrupt_page(c: Ctx) -> None:
    _drop_wal(c)
    blob = bytearray(c.db.read_bytes())
    page = int.from_bytes(blob[16:18], "big") or 65536
    assert len(blob) >= 2 * page, "the template database should have more than one page"
    blob[page:] = b"\xa5" * (len(blob) - page)  # every page after the schema page is garbage
    c.db.write_bytes(bytes(blob))


def _db_removed(c: Ctx) -> None:
    _drop_wal(c)
    c.db.unlink()


def _ckpt_removed(c: Ctx) -> None:
    c.checkpoint().unlink()


def _ckpt_truncated(c: Ctx) -> None:
    path = c.checkpoint()
    path.write_bytes(path.read_bytes()[:100])


def _ckpt_garbage(c: Ctx) -> None:
    c.checkpoint().write_bytes(b"not a checkpoint" * 50)


def _summary(text: str) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        folder = c.out / "experiments" / "ridge-geometry"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(text, encoding="utf-8")
    return setup


def _diverge(c: Ctx) -> None:
    (c.tmp / "bad.toml").write_text(TINY_CONFIG.replace("lr = 0.1", "lr = 1e8"), encoding="utf-8")


def _interrupt_training(c: Ctx) -> None:
    """Ctrl-C during the first epoch of an in-process train (the loop sees a KeyboardInterrupt)."""
    from reglab.train import Trainer

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    c.monkeypatch.setattr(Trainer, "run_epoch", interrupted)


# --------------------------------------------------------------------------- checks run after a case


def _db_untouched(c: Ctx, before: bytes) -> None:
    assert c.db.read_bytes() == before, "a corrupt runs.db must be reported, never overwritten"


def _status_is(run_key: str, status: str) -> Callable[[Ctx, object], None]:
    def check(c: Ctx, out) -> None:
        from reglab.store import RunStore

        rid = c.run if run_key == "run" else c.irun
        assert RunStore(c.out).get_run(rid)["status"] == status
    return check


def _lists_both_runs(c: Ctx, out) -> None:
    listed = invoke(["runs", "list", "--out", c.out, "--json"])
    assert listed.code == 0, repr(listed)
    ids = {r["id"] for r in run_document(listed)["runs"]}
    assert {c.run, c.irun} <= ids, f"runs.db rebuilt from the run folders should list both runs, got {ids}"


def _json_status(status: str) -> Callable[[Ctx, object], None]:
    def check(c: Ctx, out) -> None:
        assert run_document(out)["status"] == status
    return check


def _checkpoint_kept(c: Ctx, out) -> None:
    assert c.checkpoint().exists(), "a failed --resume must not delete the checkpoint"


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    needles: tuple[str, ...] = ()  # each must appear in the message (stderr, or the JSON error)
    field: str | None = None  # with --json: the error document's "field"
    absent: tuple[str, ...] = ()  # must not appear anywhere in the output
    setup: Callable[[Ctx], None] | None = None
    check: Callable[[Ctx, object], None] | None = None
    db_untouched: bool = False
    env: tuple[tuple[str, str], ...] = ()


T = ("train",)
TINY = (*T, "{cfg}", "--out", "{out}", "--quiet")
BAD = (*T, "{tmp}/bad.toml", "--out", "{out}", "--quiet")


def _set(key_value: str, *needles: str, field: str | None = None, code: int = 2, json: bool = False,
         absent: tuple[str, ...] = (), config: str = "{cfg}") -> Case:
    key = key_value.partition("=")[0]
    args = (*T, config, "--set", key_value, "--out", "{out}", "--quiet") + (("--json",) if json else ())
    return Case(f"set-{key_value}" + ("-json" if json else ""), args, code, needles or (key,), field, absent)


def _file(case_id: str, setup: Callable[[Ctx], None], *needles: str, field: str | None = None,
          json: bool = False, absent: tuple[str, ...] = ()) -> Case:
    return Case(f"config-{case_id}" + ("-json" if json else ""), BAD + (("--json",) if json else ()), 2, needles,
                field, absent, setup)


PYDANTIC_INTERNALS = ("function-after", "literal[", "list[str]", "union_tag", "Input should be a valid list")

CASES: list[Case] = [
    # ---- the config file itself
    Case("config-missing", (*T, "{tmp}/missing.toml", "--out", "{out}"), 2, ("missing.toml", "not found")),
    Case("config-is-a-directory", (*T, "{tmp}/adir.toml", "--out", "{out}"), 2, ("adir.toml", "directory"),
         absent=("not found",), setup=_mkdir("adir.toml")),
    Case("config-binary", BAD, 2, ("bad.toml",), setup=_write("bad.toml", b"\xff\xfe\x00\x81binary\x00\xc3")),
    Case("config-invalid-toml", BAD, 2, ("bad.toml", "TOML"), setup=_write("bad.toml", "[train\nepochs = 1\n")),
    Case("config-empty", BAD, 2, ("bad.toml", "empty"), setup=_write("bad.toml", "")),
    Case("config-only-comments", BAD, 2, ("bad.toml", "empty"), setup=_write("bad.toml", "# nothing here\n\n")),
    Case("config-markup-in-path", (*T, "{tmp}/a[/x].toml", "--out", "{out}"), 2, ("a[/x].toml",)),
    Case("config-markup-style-in-path", (*T, "{tmp}/[red]x.toml", "--out", "{out}"), 2, ("[red]x.toml",)),
    _file("unknown-section", _write("bad.toml", TINY_CONFIG + "\n[trian]\nepochs = 2\n"), "trian"),
    _file("unknown-key", _tiny_with("epochs = 1", "epochz = 1"), "train.epochz", field="train.epochz", json=True),
    _file("lr-inf", _tiny_with("lr = 0.1", "lr = inf"), "train.lr", field="train.lr", json=True),
    _file("lr-nan", _tiny_with("lr = 0.1", "lr = nan"), "train.lr"),
    _file("lr-zero", _tiny_with("lr = 0.1", "lr = 0.0"), "train.lr"),
    _file("epochs-zero", _tiny_with("epochs = 1", "epochs = 0"), "train.epochs", field="train.epochs", json=True),
    _file("epochs-string", _tiny_with("epochs = 1", 'epochs = "ten"'), "train.epochs"),
    _file("alpha-inf", _tiny_with("alpha = 1e-3", "alpha = inf"), "regularizer[0].alpha", field="regularizer[0].alpha",
          json=True),
    _file("mask-typo", _tiny_with("alpha = 1e-3", 'alpha = 1e-3\nmask = "weightz"'), "regularizer[0].mask", "weightz",
          absent=PYDANTIC_INTERNALS),
    _file("adamw-without-decay", _tiny_with("lr = 0.1", 'lr = 0.1\noptimizer = "adamw"'), "[[regularizer]]",
          "weight_decay"),
    # ---- --set overrides
    _set("train.epochz=3", "train.epochz", field="train.epochz", json=True),
    _set("train.lr=inf", field="train.lr", json=True),
    _set("train.lr=-1"),
    _set("train.lr=nan"),
    _set("train.epochs=0"),
    _set("train.epochs=-2"),
    _set("train.batch_size=0"),
    _set("train.optimizer=sgdd", "train.optimizer", "sgd", "adam"),
    _set("train.optimizer=[/b]", "train.optimizer", "[/b]"),
    _set("train.optimizer=[red]x", "[red]x"),
    _set("train.momentum=1.0"),
    _set("train.nesterov=true", "train.nesterov"),
    _set("train.dtype=float16", "train.dtype", "float64"),
    _set("train.device=tpu", "train.device"),
    _set("train.betas=[0.9]", "train.betas"),
    _set("model.kind=rnn", "model.kind", "mlp"),
    _set("model.hidden=[0]", "model.hidden"),
    _set("model.hidden=8", "model.hidden"),
    _set("model.activation=gelu", "model.activation", "relu"),
    _set("data.name=imagenet", "data.name", "digits", field="data.name", json=True),
    _set("data.val_fraction=1.5", "data.val_fraction"),
    _set("data.test_fraction=0.9", "data.val_fraction", "data.test_fraction"),
    _set("data.n_train=0", "data.n_train"),
    _set("data.seed=-1", "data.seed"),
    _set("regularizer.0.alpha=-0.5", "regularizer[0].alpha", field="regularizer[0].alpha", json=True),
    _set("regularizer.0.alpha=inf", "regularizer[0].alpha"),
    _set("regularizer.0.alpha=nan", "regularizer[0].alpha"),
    _set("regularizer.0.kind=l3", "regularizer[0]", "kind", "l3", "weight_decay"),
    _set("regularizer.0.mask=weightz", "regularizer[0].mask", "weightz", absent=PYDANTIC_INTERNALS),
    _set("regularizer.3.alpha=1", "regularizer", "3"),
    Case("set-regularizer-on-config-without-any", (*T, "{noreg}", "--set", "regularizer.0.alpha=1", "--out",
                                                   "{out}"), 2, ("regularizer", "[[regularizer]]"),
         absent=PYDANTIC_INTERNALS),
    Case("set-without-equals", (*TINY, "--set", "train.lr"), 2, ("--set", "key=value", "train.lr")),
    Case("set-empty-key", (*TINY, "--set", "=3"), 2, ("--set", "key=value")),
    Case("set-into-a-scalar", (*TINY, "--set", "train.lr.x=1"), 2, ("train.lr",)),
    Case("set-table-to-scalar", (*TINY, "--set", "train=3"), 2, ("train",)),
    # ---- data files (mnist-full from --data-dir)
    Case("data-dir-missing", (*T, "{tmp}/mnist.toml", "--data-dir", "{tmp}/nowhere", "--out", "{out}"), 2,
         ("nowhere", "not found"), setup=_mnist()),
    Case("data-mnist-full-without-folder", (*TINY, "--set", "data.name=mnist-full"), 2,
         ("data.data_dir", "REGLAB_DATA")),
    Case("data-label-outside-0-9", (*T, "{tmp}/mnist.toml", "--data-dir", "{mnist}", "--out", "{out}"), 2,
         ("train-labels-idx1-ubyte.gz", "11"), setup=_mnist(_bad_label)),
    Case("data-label-outside-0-9-json", (*T, "{tmp}/mnist.toml", "--data-dir", "{mnist}", "--out", "{out}",
                                         "--json"), 2, ("train-labels-idx1-ubyte.gz", "11"), setup=_mnist(_bad_label)),
    Case("data-truncated-gz", (*T, "{tmp}/mnist.toml", "--data-dir", "{mnist}", "--out", "{out}"), 2,
         ("train-images-idx3-ubyte.gz", "truncated"), absent=("Aborted",), setup=_mnist(_truncate_gz)),
    Case("data-nan-images", (*T, "{tmp}/mnist.toml", "--data-dir", "{mnist}", "--out", "{out}"), 2,
         ("t10k-images-idx3-ubyte", "NaN"), absent=("RuntimeWarning", "smaller train.lr"), setup=_mnist(_nan_images)),
    Case("data-bad-magic", (*T, "{tmp}/mnist.toml", "--data-dir", "{mnist}", "--out", "{out}"), 2,
         ("t10k-labels-idx1-ubyte", "magic"), setup=_mnist(_bad_magic)),
    Case("data-count-mismatch", (*T, "{tmp}/mnist.toml", "--data-dir", "{mnist}", "--out", "{out}"), 2,
         ("t10k-labels-idx1-ubyte", "25"), setup=_mnist(_few_labels)),
    Case("data-file-missing", (*T, "{tmp}/mnist.toml", "--data-dir", "{mnist}", "--out", "{out}"), 2,
         ("t10k-labels-idx1-ubyte", "not found"), setup=_mnist(_missing_file)),
    Case("data-checksum", (*T, "{tmp}/mnist.toml", "--data-dir", "{mnist}", "--set", "data.verify_checksums=true",
                           "--out", "{out}"), 2, ("MD5",), setup=_mnist()),
    # ---- the run store
    Case("store-not-a-database-list", ("runs", "list", "--out", "{out}"), 2, ("runs.db", "reglab runs reindex"),
         setup=_store(_db_not_a_database), db_untouched=True),
    Case("store-not-a-database-list-json", ("runs", "list", "--out", "{out}", "--json"), 2,
         ("runs.db", "reglab runs reindex"), setup=_store(_db_not_a_database), db_untouched=True),
    Case("store-not-a-database-show", ("runs", "show", "{run}", "--out", "{out}"), 2,
         ("runs.db", "reglab runs reindex"), setup=_store(_db_not_a_database), db_untouched=True),
    Case("store-not-a-database-train", (*TINY,), 2, ("runs.db", "reglab runs reindex"),
         setup=_store(_db_not_a_database), db_untouched=True),
    Case("store-corrupt-page-list", ("runs", "list", "--out", "{out}"), 2, ("runs.db", "reglab runs reindex"),
         setup=_store(_db_corrupt_page), db_untouched=True),
    Case("store-corrupt-page-show", ("runs", "show", "{run}", "--out", "{out}"), 2,
         ("runs.db", "reglab runs reindex"), setup=_store(_db_corrupt_page), db_untouched=True),
    Case("store-corrupt-page-train", (*TINY,), 2, ("runs.db", "reglab runs reindex"),
         setup=_store(_db_corrupt_page), db_untouched=True),
    Case("store-not-a-database-hessian", ("hessian", "{run}", "--out", "{out}"), 2,
         ("runs.db", "reglab runs reindex"), setup=_store(_db_not_a_database), db_untouched=True),
    Case("store-missing-db-is-rebuilt", ("runs", "list", "--out", "{out}", "--json"), 0, (),
         setup=_store(_db_removed), check=_lists_both_runs),
    Case("store-missing-db-show", ("runs", "show", "{run}", "--out", "{out}", "--json"), 0, (),
         setup=_store(_db_removed), check=_json_status("completed")),
    Case("store-missing-db-train-keeps-old-runs", (*TINY, "--json"), 0, (), setup=_store(_db_removed),
         check=_lists_both_runs),
    Case("store-reindex-after-rm", ("runs", "reindex", "--out", "{out}"), 0, (), setup=_store(_db_removed),
         check=_lists_both_runs),
    Case("store-reindex-corrupt", ("runs", "reindex", "--out", "{out}"), 0, (), setup=_store(_db_not_a_database),
         check=_lists_both_runs),
    Case("store-reindex-no-folder", ("runs", "reindex", "--out", "{tmp}/nothing-here"), 2, ("nothing-here",)),
    Case("store-interrupted-run-shows-interrupted", ("runs", "show", "{irun}", "--out", "{out}", "--json"), 0, (),
         setup=_store(), check=_json_status("interrupted")),
    Case("runs-list-no-store", ("runs", "list", "--out", "{tmp}/nothing-here"), 2, ("nothing-here",)),
    Case("runs-list-limit-zero", ("runs", "list", "--out", "{out}", "--limit", "0"), 2, ("--limit",),
         setup=_store()),
    Case("runs-list-out-is-a-file", ("runs", "list", "--out", "{cfg}"), 2, ("tiny.toml",)),
    Case("runs-show-unknown", ("runs", "show", "nope", "--out", "{out}"), 2, ("nope", "reglab runs list"),
         setup=_store()),
    Case("runs-show-unknown-json", ("runs", "show", "nope", "--out", "{out}", "--json"), 2, ("nope",),
         setup=_store()),
    Case("runs-show-missing-argument", ("runs", "show", "--out", "{out}"), 2, ("Missing argument", "run_id")),
    Case("runs-export-unknown", ("runs", "export", "nope", "--out", "{out}"), 2, ("nope",), setup=_store()),
    Case("runs-export-unwritable-output", ("runs", "export", "{run}", "--out", "{out}", "-o",
                                           "{tmp}/no/such/dir/x.csv"), 2, ("x.csv",), setup=_store()),
    # ---- checkpoints and --resume
    Case("resume-deleted-checkpoint", (*T, "{resumable}", "--resume", "--out", "{out}", "--quiet"), 2,
         ("checkpoint",), setup=_store(_ckpt_removed), check=_status_is("irun", "interrupted")),
    Case("resume-truncated-checkpoint", (*T, "{resumable}", "--resume", "--out", "{out}", "--quiet"), 2,
         ("checkpoint.pt",), setup=_store(_ckpt_truncated), check=_status_is("irun", "interrupted")),
    Case("resume-garbage-checkpoint-json", (*T, "{resumable}", "--resume", "--out", "{out}", "--json"), 2,
         ("checkpoint.pt",), setup=_store(_ckpt_garbage), check=_checkpoint_kept),
    Case("resume-nothing-to-resume", (*T, "{cfg}", "--resume", "--out", "{out}", "--quiet"), 2,
         ("nothing to resume",), setup=_store()),
    # ---- --out
    Case("out-is-a-file", (*T, "{cfg}", "--out", "{cfg}"), 2, ("tiny.toml",)),
    Case("out-is-a-file-json", (*T, "{cfg}", "--out", "{cfg}", "--json"), 2, ("tiny.toml",)),
    Case("out-cannot-be-created", (*T, "{cfg}", "--out", "/sys/reglab-cannot-exist/out"), 2,
         ("/sys/reglab-cannot-exist",)),
    Case("experiment-out-is-a-file", ("experiment", "ridge-geometry", "--quick", "--out", "{cfg}"), 2,
         ("tiny.toml",)),
    # ---- the lifecycle's exit codes
    Case("diverged-exit-3", BAD, 3, ("diverged",), setup=_diverge),
    Case("diverged-exit-3-json", BAD + ("--json",), 3, (), setup=_diverge, check=_json_status("diverged")),
    Case("interrupted-exit-4", (*TINY,), 4, ("interrupted", "--resume"), setup=_interrupt_training),
    # ---- every command's arguments
    Case("train-no-config", ("train",), 2, ("Missing argument", "config")),
    Case("train-unknown-option", (*TINY, "--bogus-option"), 2, ("--bogus-option",)),
    Case("unknown-command", ("trian",), 2, ("trian",)),
    Case("threads-negative", ("--threads", "-1", "datasets"), 2, ("--threads",)),
    Case("datasets-unknown-option", ("datasets", "--bogus"), 2, ("--bogus",)),
    Case("hessian-unknown-run", ("hessian", "nope", "--out", "{out}"), 2, ("nope",), setup=_store()),
    Case("hessian-no-store", ("hessian", "nope", "--out", "{tmp}/nothing-here"), 2, ("nothing-here",)),
    Case("hessian-bad-params", ("hessian", "{run}", "--out", "{out}", "--params", "biases"), 2, ("--params",),
         setup=_store()),
    Case("hessian-negative-top", ("hessian", "{run}", "--out", "{out}", "--top", "-1"), 2, ("--top",),
         setup=_store()),
    Case("verify-missing-config", ("verify", "{tmp}/missing.toml"), 2, ("missing.toml",)),
    Case("verify-bad-penalty", ("verify", "{cfg}", "--penalty", "l3"), 2, ("penalty", "l3")),
    Case("verify-alphas-without-option", ("verify", "{cfg}", "0.1", "1"), 2, ("--alpha",)),
    Case("verify-negative-alpha", ("verify", "{cfg}", "--alpha", "-1"), 2, ("alpha",)),
    Case("verify-bad-set", ("verify", "{cfg}", "--set", "train.lr=inf"), 2, ("train.lr",)),
    Case("experiment-unknown", ("experiment", "no-such-experiment", "--out", "{out}"), 2,
         ("no-such-experiment", "ridge-geometry")),
    Case("experiment-unknown-json", ("experiment", "no-such-experiment", "--out", "{out}", "--json"), 2,
         ("no-such-experiment",)),
    Case("experiment-zero-seeds", ("experiment", "ridge-geometry", "--seeds", "0", "--out", "{out}"), 2,
         ("--seeds",)),
    Case("report-no-folder", ("report", "{tmp}/nothing-here"), 2, ("nothing-here",)),
    Case("report-corrupt-summary-is-skipped", ("report", "{out}"), 0, ("summary.json",),
         setup=_summary("{not json")),
    Case("report-incomplete-summary-is-skipped", ("report", "{out}"), 0, ("summary.json",),
         setup=_summary('{"name": "ridge-geometry"}')),
    Case("report-unwritable-output", ("report", "{out}", "-o", "{tmp}/no/such/dir/r.html"), 2, ("r.html",),
         setup=_mkdir("out")),
    Case("lambda-unknown-from", ("lambda", "convert", "--value", "1", "--from", "bogus"), 2, ("bogus", "nielsen")),
    Case("lambda-unknown-to", ("lambda", "convert", "--value", "1", "--from", "reglab", "--to", "bogus"), 2,
         ("bogus",)),
    Case("lambda-unknown-from-json", ("lambda", "convert", "--value", "1", "--from", "bogus", "--json"), 2,
         ("bogus",)),
    Case("lambda-value-not-a-number", ("lambda", "convert", "--value", "abc", "--from", "reglab"), 2, ("--value",)),
    Case("lambda-value-nan", ("lambda", "convert", "--value", "nan", "--from", "reglab"), 2, ("strength", "nan")),
    Case("lambda-value-negative", ("lambda", "convert", "--value", "-1", "--from", "reglab"), 2, ("strength", "-1")),
    Case("lambda-nielsen-needs-n", ("lambda", "convert", "--value", "1", "--from", "nielsen"), 2, ("nielsen", "needs n")),
    Case("lambda-missing-value", ("lambda", "convert", "--from", "reglab"), 2, ("--value",)),
]


def test_the_suite_is_large_enough():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: Ctx, template):
    if case.setup is not None and getattr(case.setup, "needs_store", False):
        _with_store(ctx, template["out"])
    if case.setup is not None:
        case.setup(ctx)
    before = ctx.db.read_bytes() if case.db_untouched else b""
    args = [ctx.fill(a) for a in case.args]
    out = invoke(args, env=dict(case.env))
    assert_no_traceback(out)
    assert out.code == case.code, f"expected exit {case.code}\n{out!r}"
    if case.code == 2 and "--json" in args:
        err = error_document(out)
        message = flat(err["message"] + " " + str(err["field"]))
        if case.field is not None:
            assert norm_key(err["field"]) == norm_key(case.field), err
    elif case.code == 2:
        assert out.stderr.strip(), f"bad input needs a message on stderr\n{out!r}"
        message = flat(out.stderr)
    else:
        message = flat(out.stdout + " " + out.stderr)
    for needle in case.needles:
        assert needle in message, f"the message should name {needle!r}\n{out!r}"
    for unwanted in case.absent:
        assert unwanted not in out.stdout + out.stderr, f"{unwanted!r} should not be shown\n{out!r}"
    if case.db_untouched:
        _db_untouched(ctx, before)
    if case.check is not None:
        case.check(ctx, out)


# --------------------------------------------------------------------------- real processes


def test_in_a_real_process_bad_input_is_one_line_and_a_json_error_document(tmp_path):
    """The console script itself: markup in user text, and --json errors, outside CliRunner."""
    (tmp_path / "tiny.toml").write_text(TINY_CONFIG, encoding="utf-8")
    args = ["train", tmp_path / "tiny.toml", "--set", "train.optimizer=[/b]", "--out", tmp_path / "out"]
    plain = run_process(args)
    assert_no_traceback(plain)
    assert plain.code == 2 and "[/b]" in plain.stderr and "train.optimizer" in plain.stderr, repr(plain)
    as_json = run_process([*args, "--json"])
    assert as_json.code == 2, repr(as_json)
    err = error_document(as_json)
    assert norm_key(err["field"]) == "train.optimizer" and "[/b]" in err["message"]


# --------------------------------------------------------------------------- library: read-only arrays


def _read_only_inputs():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    H = a @ a.T + np.eye(4)
    w = rng.normal(size=4)
    frozen_H, frozen_w = H.copy(), w.copy()
    frozen_H.flags.writeable = False
    frozen_w.flags.writeable = False
    return H, w, frozen_H, frozen_w


@pytest.fixture
def no_read_only_buffers_to_torch(monkeypatch):
    """Fail if a read-only NumPy array reaches torch: torch warns only once per process, so the
    warning alone would go unseen when an earlier test had triggered it."""
    handed = []
    for name in ("as_tensor", "from_numpy", "tensor"):
        original = getattr(torch, name)

        def spy(data, *args, _original=original, **kwargs):
            if isinstance(data, np.ndarray) and not data.flags.writeable:
                handed.append(data.shape)
            return _original(data, *args, **kwargs)

        monkeypatch.setattr(torch, name, spy)
    yield handed
    assert not handed, f"read-only arrays of shapes {handed} were handed to torch"


def test_theory_accepts_read_only_numpy_arrays_without_a_warning(no_read_only_buffers_to_torch):
    """np.diag(H) and arrays with writeable=False (issue 9 item 12); warnings are errors here."""
    from reglab import theory

    H, w, frozen_H, frozen_w = _read_only_inputs()
    diag = np.diag(H)
    assert not diag.flags.writeable
    eig_values, eig_vectors = np.linalg.eigh(H)
    eig_values.flags.writeable = False
    alphas = np.array([0.0, 0.1, 1.0])
    alphas.flags.writeable = False
    # independent references: the closed forms in NumPy
    expected_ridge = np.linalg.solve(H + 0.1 * np.eye(4), H @ w)
    np.testing.assert_allclose(theory.ridge_transform(frozen_H, frozen_w, 0.1), expected_ridge, rtol=1e-10)
    np.testing.assert_allclose(theory.shrink_factors(eig_values, alphas),
                               eig_values[None, :] / (eig_values[None, :] + alphas[:, None]), rtol=1e-12)
    np.testing.assert_allclose(theory.effective_parameters(eig_values, 0.1), np.sum(eig_values / (eig_values + 0.1)),
                               rtol=1e-12)
    expected_lasso = np.sign(frozen_w) * np.maximum(np.abs(frozen_w) - 0.3 / diag, 0.0)
    np.testing.assert_allclose(theory.soft_threshold(frozen_w, diag, 0.3), expected_lasso, rtol=1e-12)
    np.testing.assert_allclose(theory.constraint_radius(frozen_H, frozen_w, 0.1), np.linalg.norm(expected_ridge),
                               rtol=1e-10)
    np.testing.assert_allclose(theory.early_stopping_factors(eig_values / eig_values.max(), 0.5, 3),
                               1 - (1 - 0.5 * eig_values / eig_values.max()) ** 3, rtol=1e-12)
    broadcast = np.broadcast_to(np.float64(0.1), (3,))  # a read-only view with zero strides
    assert theory.shrink_factors(eig_values, broadcast).shape == (3, 4)


def test_theory_given_read_only_input_leaves_it_unchanged_and_returns_writable_arrays(no_read_only_buffers_to_torch):
    from reglab import theory

    H, w, frozen_H, frozen_w = _read_only_inputs()
    result = theory.ridge_transform(frozen_H, frozen_w, 0.5)
    assert isinstance(result, np.ndarray) and result.flags.writeable
    np.testing.assert_array_equal(frozen_H, H)
    np.testing.assert_array_equal(frozen_w, w)
    as_tensor = theory.ridge_transform(torch.from_numpy(H), torch.from_numpy(w), 0.5)
    np.testing.assert_allclose(as_tensor.numpy(), result, rtol=1e-12)
