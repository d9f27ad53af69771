"""``export_mlflow``: stored runs as MLflow runs (needs ``reglab[mlflow]``, mlflow-skinny).

One MLflow run per reglab run, in an experiment named after the sweep (its id) or the run (its
config name, else its id): params = the resolved config flattened (:func:`flatten_config`),
metrics = every stored per-epoch value with ``step = epoch``, tags ``reglab.run_id``,
``reglab.status``, ``reglab.reason``, ``reglab.version``, ``reglab.sweep``,
``reglab.sweep_point``, ``reglab.config_hash``. A run already exported into that experiment
(same ``reglab.run_id`` tag) is skipped, so exporting twice writes nothing twice.

``uri`` is a tracking URI (``http://HOST:5000``, ``sqlite:///mlflow.db``, ``file:///…``) or a
folder (``./mlruns``), which becomes MLflow's file store. MLflow 3 keeps its file store in
maintenance mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE=true``; the export sets that
for its own duration only (to browse the folder: ``MLFLOW_ALLOW_FILE_STORE=true mlflow ui
--backend-store-uri ./mlruns``).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any, Iterator

from reglab._version import __version__
from reglab.errors import RunError
from reglab.results._export import ExportResult, finite_history, flatten_config, need_extra, param_text, stored_runs

__all__ = ["export_mlflow", "tracking_uri", "MLFLOW_STATUS"]

MLFLOW_STATUS = {"completed": "FINISHED", "diverged": "FAILED", "failed": "FAILED", "interrupted": "KILLED"}
_BATCH = 100  # MLflow takes at most 100 params (and 1000 metrics) per log_batch call


def tracking_uri(uri: str) -> tuple[str, bool]:
    """``(tracking URI, is a local file store)``: a plain path becomes a ``file://`` URI.

    >>> tracking_uri("sqlite:///mlflow.db"), tracking_uri("http://127.0.0.1:5000")[1]
    (('sqlite:///mlflow.db', False), False)
    >>> tracking_uri("/tmp/mlruns")
    ('file:///tmp/mlruns', True)
    """
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri) and not re.match(r"^[A-Za-z]:[\\/]", uri):
        return uri, uri.startswith("file:")
    return Path(uri).expanduser().resolve().as_uri(), True


@contextlib.contextmanager
def _file_store_allowed(local: bool) -> Iterator[None]:
    before = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    if local:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        if local and before is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        elif local:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = before


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _tags(run: dict[str, Any]) -> dict[str, str]:
    tags = run.get("tags") or {}
    found = {"reglab.run_id": run["id"], "reglab.status": run["status"], "reglab.config_hash": run["config_hash"],
             "reglab.version": run.get("reglab_version") or __version__}
    if run.get("reason"):
        found["reglab.reason"] = str(run["reason"])[:5000]
    if "sweep" in tags:
        found["reglab.sweep"] = str(tags["sweep"])
        found["reglab.sweep_point"] = str(tags.get("sweep_point"))
    return found


def _exported(client: Any, experiment_id: str) -> set[str]:
    """reglab run ids already in the experiment."""
    seen, token = set(), None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        seen |= {r.data.tags.get("reglab.run_id") for r in page}
        token = page.token
        if not token:
            return seen - {None}


def _log_run(client: Any, store: Any, experiment_id: str, run: dict[str, Any]) -> str:
    from mlflow.entities import Metric, Param

    created = client.create_run(experiment_id, start_time=_ms(run.get("started_at") or run["created_at"]),
                                tags=_tags(run), run_name=run["id"])
    run_id = created.info.run_id
    stamp = _ms(run.get("finished_at") or run["created_at"])
    params = [Param(k, param_text(v)) for k, v in flatten_config(run["config"]).items()]
    metrics = [Metric(name, value, stamp, epoch) for epoch, name, value in finite_history(store, run["id"])]
    for i in range(0, len(params), _BATCH):
        client.log_batch(run_id, params=params[i:i + _BATCH])
    for i in range(0, len(metrics), 10 * _BATCH):
        client.log_batch(run_id, metrics=metrics[i:i + 10 * _BATCH])
    if run["status"] in MLFLOW_STATUS:
        client.set_terminated(run_id, MLFLOW_STATUS[run["status"]], end_time=_ms(run.get("finished_at")))
    return run_id


def export_mlflow(out: str | os.PathLike, ident: str, uri: str, *, experiment: str | None = None) -> ExportResult:
    """Export run or sweep ``ident`` from the store in ``out`` to the MLflow tracking ``uri``.

    ``experiment`` names the MLflow experiment (default: the sweep id, or the run's name).
    """
    store, name, runs = stored_runs(out, ident)
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise need_extra("mlflow", "--mlflow", exc) from None
    target, local = tracking_uri(uri)
    result = ExportResult(target, experiment or name)
    with _file_store_allowed(local):
        try:
            client = MlflowClient(tracking_uri=target)
            found = client.get_experiment_by_name(result.name)
            experiment_id = found.experiment_id if found else client.create_experiment(result.name)
            done = _exported(client, experiment_id)
            for run in runs:
                if run["id"] in done:
                    result.skipped.append(run["id"])
                else:
                    result.exported[run["id"]] = _log_run(client, store, experiment_id, run)
        except MlflowException as exc:
            raise RunError(f"MLflow at {target} refused the export: {exc.message}", field="--mlflow") from None
    return result
