"""Curvature of a stored run: load its model and data, then ask :mod:`reglab.curvature`."""

from reglab.analysis._stored import stored_hessian_summary

__all__ = ["stored_hessian_summary"]
