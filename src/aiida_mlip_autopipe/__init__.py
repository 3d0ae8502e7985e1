"""AiiDA plugin that produces machine-learning interatomic potentials with no human in the loop."""

__version__ = '0.1.0'
