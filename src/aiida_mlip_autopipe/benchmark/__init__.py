"""Helpers of the benchmark scripts under ``benchmarks/``: the selection benchmark (``al_efficiency.py``), the
campaign overhead (``overhead``) and pw.x through ASE (``pw_ase``)."""
