"""Labelling stage: structures in, ``TrainingSet`` out (Quantum ESPRESSO by default)."""
