"""``reglab tune-alpha CONFIG.toml``: choose the L2 strength by MacKay's evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from reglab.cli._common import emit_json, guard, metrics_table, stderr, stdout
from reglab.cli._signals import sigterm_as_interrupt
from reglab.config import load_config

__all__ = ["tune_alpha_command"]


@guard
def tune_alpha_command(
    config: Path = typer.Argument(..., help="TOML config with at most one regularizer entry, of kind 'l2'"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a config value: key=value (repeatable)"),
    out: Optional[Path] = typer.Option(None, "--out", help="store every training in this results directory"),
    alpha0: Optional[float] = typer.Option(None, "--alpha0", help="first strength (default: the config's l2 alpha, "
                                                                   "or 1e-3)"),
    rtol: float = typer.Option(0.05, "--rtol", help="stop when a round moves α by at most this (in log)"),
    max_trainings: int = typer.Option(4, "--max-trainings", min=1, help="at most this many trainings"),
    method: str = typer.Option("auto", "--method", help="auto | dense | lanczos (Lanczos top-k + SLQ)"),
    curvature: str = typer.Option("auto", "--curvature", help="auto (Hessian, GGN if it has negative "
                                                               "eigenvalues) | hessian | ggn"),
    top_k: int = typer.Option(20, "--top-k", min=0, help="Lanczos path: exact top eigenvalues (0: no deflation)"),
    probes: int = typer.Option(10, "--probes", min=2, help="Lanczos path: SLQ probes"),
    steps: int = typer.Option(40, "--steps", min=1, help="Lanczos path: Lanczos steps per probe"),
    r_steps: Optional[int] = typer.Option(None, "--r-steps", min=0, help="Lanczos path: steps for the predicted "
                                                                         "‖w̃(α)‖² (default --steps; held: 0)"),
    mode: str = typer.Option("predicted", "--mode", help="predicted (the quadratic model's minimizer w̃(α) between "
                                                          "trainings) | held (the trained weights: MacKay's "
                                                          "re-estimation, laplace-torch's objective)"),
    min_gain: float = typer.Option(0.0, "--min-gain", min=0.0, help="also stop when the move gains at most this "
                                                                     "many nats of log-evidence (0: off)"),
    finetune_epochs: Optional[int] = typer.Option(None, "--finetune-epochs", min=1,
                                                  help="later trainings continue from the previous weights for "
                                                       "this many epochs (default: full trainings)"),
    curvature_dtype: str = typer.Option("float64", "--curvature-dtype", help="float64 | float32 (products)"),
    curvature_examples: Optional[int] = typer.Option(None, "--curvature-examples", min=1,
                                                     help="take the curvature on this many training examples "
                                                          "(a seeded subsample; cheaper, approximate)"),
    figure: Optional[Path] = typer.Option(None, "--figure", help="save the figure here (default with --out: "
                                                                 "OUT/tune-alpha/NAME.png)"),
    json_: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
) -> None:
    """Choose α for CONFIG by evidence maximization: few trainings, the curvature spectrum in between.

    Prints α (reglab's, on the mean loss), torch's weight_decay, Nielsen's λ, γ, the rounds,
    the final model's metrics and the compute (counted in gradient-equivalents, and measured in
    epochs of the first training).
    """
    from reglab.evidence._config import tune_config
    from reglab.evidence._figure import save_figure

    cfg = load_config(config, list(set_ or []))

    def say(line: str) -> None:
        stderr.print(Text(line), highlight=False)

    with sigterm_as_interrupt():
        result = tune_config(cfg, out=out, alpha0=alpha0, rtol=rtol, max_trainings=max_trainings, method=method,
                             curvature=curvature, top_k=top_k, num_probes=probes, lanczos_steps=steps,
                             r_steps=r_steps, mode=mode, min_gain=min_gain, finetune_epochs=finetune_epochs,
                             curvature_dtype=curvature_dtype, curvature_examples=curvature_examples, progress=say)
    document = result.to_json()
    if figure is None and out is not None:
        figure = out / "tune-alpha" / f"{cfg.name or config.stem}.png"
    if figure is not None:
        figure.parent.mkdir(parents=True, exist_ok=True)
        document["figure"] = save_figure(document, figure)
        say(f"figure: {figure}")
    if json_:
        emit_json(document)
        return
    rows = {"alpha (reglab = torch weight_decay)": document["alpha"], "nielsen lambda": document["nielsen_lambda"],
            "gamma": document["gamma"], "log-evidence": document["log_evidence"],
            "± stderr": document["log_evidence_stderr"], "trainings": document["trainings"],
            "gradient-equivalents": document["compute"]["grad_equivalents"],
            "epoch-equivalents (measured)": document["compute"]["epoch_equivalents"]}
    if document["beta"] is not None:
        rows["noise precision beta"] = document["beta"]
    rows.update({f"final {k}": v for k, v in document["final_model"]["final"].items() if v is not None})
    stdout.print(metrics_table("evidence-tuned L2 strength", rows))
    for note in document["notes"]:
        stdout.print(Text(note))
