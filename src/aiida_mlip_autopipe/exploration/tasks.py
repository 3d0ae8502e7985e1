"""The exploration's selection as a task: run by a ``PythonTaskCalculation`` job, not in the daemon.

Pure (no AiiDA): the job's Python imports it.
"""

from __future__ import annotations

from ..common.task_io import TaskInputs, task
from .selection import choose_frames, frames_from_arrays


@task
def select_structures(inputs: TaskInputs) -> dict:
    """Select the frames to label from the runs' candidate ``trajectories`` (keyed by run label) with the
    potential's B-basis and active set (:func:`~.selection.choose_frames`); ``parameters`` are the selection
    settings. Gives the selected frames as ``structures`` and the selection report as ``result``."""
    files = {key: inputs.potential_file(key) for key in ('yaml', 'asi')}
    runs = {label: frames_from_arrays(arrays) for label, arrays in inputs.trajectories.items()}
    chosen, report = choose_frames(runs, inputs.parameters, {key: str(path) for key, path in files.items() if path})
    return {'result': report, 'structures': chosen}
