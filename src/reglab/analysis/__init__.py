"""Curvature of a stored run: load its model and data, then ask :mod:`reglab.curvature`."""

from reglab.analysis._stored import load_run_model, stored_hessian_summary

__all__ = ["load_run_model", "stored_hessian_summary"]
