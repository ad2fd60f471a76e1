"""Benchmarks of pumplab (run as modules, e.g. ``python -m benchmarks.physiology``)."""
