"""Surrogate screening: a pretrained universal potential (CHGNet) decides which candidates go to DFT.

``SurrogateCalculation`` runs the model in its own virtual environment, ``select_candidates``
records the filtering and selection on the graph, and ``SurrogateScreeningWorkChain`` composes
them. The pure helpers live in :mod:`.selection`.
"""
