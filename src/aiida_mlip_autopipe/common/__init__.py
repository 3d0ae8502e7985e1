"""Helpers shared by the stages, the campaign and the benchmarks (they import ``data`` only)."""
