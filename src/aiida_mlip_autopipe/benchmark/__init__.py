"""Pure helpers of the selection benchmark (``benchmarks/al_efficiency.py``)."""
