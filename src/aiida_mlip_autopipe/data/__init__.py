"""Data types of the plugin; they import nothing else of the package."""

from .training_set import TrainingSet

__all__ = ('TrainingSet',)
