"""Data types of the plugin; they import nothing else of the package."""

from .ace_potential import AcePotential
from .training_set import TrainingSet

__all__ = ('AcePotential', 'TrainingSet')
