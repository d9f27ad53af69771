"""The HTML report: figures, tables and readings of stored experiments and sweeps (never retrains)."""

from reglab.report._html import build_report, collect_experiments, collect_sweeps

__all__ = ["build_report", "collect_experiments", "collect_sweeps"]
