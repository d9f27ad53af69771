"""Which stored runs an id names: one run, or every run of a sweep (read from the store's tags).

The sweep driver tags each run it creates with ``{"sweep": SWEEP_ID, "sweep_point": INDEX,
"axes": {AXIS: VALUE, ...}}`` (:mod:`reglab.sweep._driver`); everything here reads those
tags back, so a sweep is compared or exported from the store alone, without its TOML file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reglab.errors import RunError
from reglab.store import RunStore
from reglab.sweep import DONE_STATUSES

__all__ = ["SweepRuns", "known_sweeps", "sweep_runs", "select_runs"]

@dataclass(frozen=True)
class SweepRuns:
    """A sweep as the store holds it: its axes (in the sweep's order) and one run per grid point."""

    sweep_id: str
    axes: list[str]
    points: list[dict[str, Any]]  # one stored run per point, by point index
    superseded: int               # older runs of the same points (a failed try that was rerun)


def _sweep_of(run: dict[str, Any]) -> str | None:
    tags = run.get("tags") or {}
    sweep = tags.get("sweep")
    return sweep if isinstance(sweep, str) else None


def known_sweeps(store: RunStore) -> dict[str, int]:
    """Sweep id → how many stored runs carry it, oldest sweep first.

    >>> import tempfile
    >>> known_sweeps(RunStore(tempfile.mkdtemp()))
    {}
    """
    found: dict[str, int] = {}
    for run in sorted(store.list_runs(), key=lambda r: r["created_at"]):
        sweep = _sweep_of(run)
        if sweep is not None:
            found[sweep] = found.get(sweep, 0) + 1
    return found


def _resolve_sweep(store: RunStore, sweep_id: str) -> str:
    """The full id of the sweep ``sweep_id`` names (itself or a unique prefix); an error lists the known ones."""
    known = known_sweeps(store)
    if sweep_id in known:
        return sweep_id
    matches = [s for s in known if s.startswith(sweep_id)]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(f"{s} ({n} runs)" for s, n in known.items()) or "none (run 'reglab sweep CONFIG.toml' first)"
    why = "no sweep" if not matches else f"{len(matches)} sweeps"
    raise RunError(f"{why} with id {sweep_id!r} in {store.path}; known sweeps: {listing}", field="SWEEP_ID")


def sweep_runs(store: RunStore, sweep_id: str) -> SweepRuns:
    """The runs of one sweep: for each grid point the newest completed or diverged run, else its newest run."""
    sweep_id = _resolve_sweep(store, sweep_id)
    runs = sorted((r for r in store.list_runs() if _sweep_of(r) == sweep_id), key=lambda r: r["created_at"])
    by_point: dict[int, dict[str, Any]] = {}
    for run in runs:
        index = int(run["tags"].get("sweep_point", -1))
        held = by_point.get(index)
        if held is None or run["status"] in DONE_STATUSES or held["status"] not in DONE_STATUSES:
            by_point[index] = run
    points = [by_point[i] for i in sorted(by_point)]
    axes = list((points[0]["tags"].get("axes") or {}) if points else [])
    return SweepRuns(sweep_id, axes, points, len(runs) - len(points))


def select_runs(store: RunStore, ident: str) -> tuple[str, list[dict[str, Any]]]:
    """``(name, runs)`` for a run id (or unique prefix) or a sweep id: every stored run of that sweep.

    The name is the sweep id, or the run's config name (its id when it has none).
    """
    known = known_sweeps(store)
    if ident in known or (ident.startswith("sweep-") and any(s.startswith(ident) for s in known)):
        sweep_id = _resolve_sweep(store, ident)
        runs = sorted((r for r in store.list_runs() if _sweep_of(r) == sweep_id),
                      key=lambda r: (int(r["tags"].get("sweep_point", -1)), r["created_at"]))
        return sweep_id, runs
    try:
        run = store.get_run(ident)
    except RunError:
        listing = ", ".join(known) or "none"
        raise RunError(f"no run or sweep with id {ident!r} in {store.path}; see 'reglab runs list' "
                       f"(known sweeps: {listing})", field="ID") from None
    return run["name"] or run["id"], [run]
