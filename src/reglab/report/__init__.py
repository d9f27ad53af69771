"""The HTML report: figures, tables and readings of stored experiments (never retrains)."""

from reglab.report._html import build_report, collect_experiments

__all__ = ["build_report", "collect_experiments"]
