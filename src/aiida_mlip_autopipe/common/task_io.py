"""What a Python task job reads and writes, and how a task runs (no AiiDA: the job imports this).

A *task* is a function of this plugin, marked with :func:`task`, that does minutes-long work on
ASE atoms and a potential's files (the validation's properties and MD, the exploration's selection).
``PythonTaskCalculation`` (:mod:`.python_task`) runs it as a job on the computer, with the
project's own Python as its code, so the daemon worker that submitted it stays free. The job's
folder holds :data:`INPUTS_NAME` (the task, its parameters, structures and trajectories as JSON:
positions keep every digit) and the potential's files in :data:`POTENTIAL_FOLDER`; the driver
(``python -m aiida_mlip_autopipe.common.task_run``) calls :func:`run_task` and writes
:data:`RESULTS_NAME`.

A task takes one :class:`TaskInputs` and returns ``{'result': dict}`` plus, optionally,
``'structures'``: ``{key: Atoms}`` that become ``StructureData`` outputs.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import time
import traceback
from pathlib import Path

import numpy as np

#: Files of a task job (in its working folder).
INPUTS_NAME = 'task_inputs.json'
RESULTS_NAME = 'task_results.json'
POTENTIAL_FOLDER = 'potential'
#: The potential's files in :data:`POTENTIAL_FOLDER`, by key (as ``AcePotential`` stores them).
POTENTIAL_FILES = {'yaml': 'potential.yaml', 'yace': 'potential.yace', 'asi': 'potential.asi'}
#: Only functions of this package can be tasks.
PACKAGE = 'aiida_mlip_autopipe'
#: Exceptions by which a task says that it cannot use its inputs (a result of the inputs, not of the job):
#: the job ends with status ``refused``; any other exception gives ``failed``.
REFUSALS = (ValueError, RuntimeError, ArithmeticError)
#: Attribute that marks a function as a task.
MARK = '_mlip_autopipe_task'


def task(function):
    """Mark ``function`` (``TaskInputs -> dict``) as a task that ``PythonTaskCalculation`` may run."""
    setattr(function, MARK, True)
    return function


def task_path(function) -> str:
    """Return the ``module:function`` path of a task, the ``task`` input of ``PythonTaskCalculation``."""
    if not getattr(function, MARK, False):
        raise ValueError(f'{function!r} is not marked as a task')
    return f'{function.__module__}:{function.__name__}'


def load_task(path: str):
    """Return the task function named ``module:function``; raise ``ValueError`` saying what is wrong."""
    module_name, _, name = str(path).partition(':')
    if not name or not (module_name == PACKAGE or module_name.startswith(f'{PACKAGE}.')):
        raise ValueError(f'`{path}` is not a task: give `module:function` of a module of {PACKAGE}')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exception:
        raise ValueError(f'`{path}`: module `{module_name}` cannot be imported ({exception})') from None
    function = getattr(module, name, None)
    if function is None or not getattr(function, MARK, False):
        raise ValueError(f'`{path}`: `{module_name}` has no task `{name}`')
    return function


# -- atoms and arrays as JSON -------------------------------------------------------------------------


def atoms_to_dict(atoms) -> dict:
    """Return ``atoms`` as JSON-ready lists: numbers, positions, cell, pbc (floats keep every digit)."""
    return {
        'numbers': [int(number) for number in atoms.numbers],
        'positions': np.asarray(atoms.positions, dtype=float).tolist(),
        'cell': np.asarray(atoms.cell.array, dtype=float).tolist(),
        'pbc': [bool(value) for value in atoms.pbc],
    }


def atoms_from_dict(content: dict):
    """Return ASE atoms from :func:`atoms_to_dict`'s lists."""
    from ase import Atoms

    return Atoms(numbers=content['numbers'], positions=content['positions'], cell=content['cell'], pbc=content['pbc'])


def plain(value):
    """Return ``value`` with numpy scalars and arrays turned into Python numbers and lists (for JSON)."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


# -- the inputs of a task --------------------------------------------------------------------------------


@dataclasses.dataclass
class TaskInputs:
    """What a task is given.

    ``parameters``: the ``parameters`` Dict; ``structures``: ASE atoms by key; ``trajectories``: arrays by
    name (``positions``, ``cells``, ``steps``, ``symbols`` and any other array of the ``TrajectoryData``)
    by key; ``potential``: the folder with the potential's files (None without a potential).
    """

    parameters: dict
    structures: dict
    trajectories: dict
    potential: Path | None = None

    def potential_file(self, key: str) -> Path | None:
        """Return the path of the potential's file ``key`` (``yaml``, ``yace``, ``asi``), or None if absent."""
        if self.potential is None:
            return None
        path = self.potential / POTENTIAL_FILES[key]
        return path if path.is_file() else None

    def calculator(self, active_set: bool = False):
        """Return pyace's ASE calculator on the potential's B-basis (with its active set: per-atom gamma)."""
        from pyace import PyACECalculator
        from pyace.basis import BBasisConfiguration

        yaml = self.potential_file('yaml')
        if yaml is None:
            raise ValueError('the task needs a potential (potential.yaml)')
        calculator = PyACECalculator(BBasisConfiguration(str(yaml)))
        if active_set:
            asi = self.potential_file('asi')
            if asi is None:
                raise ValueError('this potential has no active set (potential.asi)')
            calculator.set_active_set(str(asi))
        return calculator


def read_inputs(content: dict, folder: Path) -> TaskInputs:
    """Return the :class:`TaskInputs` of a job's :data:`INPUTS_NAME` ``content`` in ``folder``."""
    structures = {key: atoms_from_dict(value) for key, value in content.get('structures', {}).items()}
    trajectories = {
        key: {name: (np.asarray(array) if name != 'symbols' else list(array)) for name, array in arrays.items()}
        for key, arrays in content.get('trajectories', {}).items()
    }
    potential = folder / POTENTIAL_FOLDER
    return TaskInputs(
        parameters=content.get('parameters', {}),
        structures=structures,
        trajectories=trajectories,
        potential=potential if potential.is_dir() else None,
    )


def run_task(content: dict, folder: Path) -> dict:
    """Run the task of a job's :data:`INPUTS_NAME` ``content`` in ``folder``; return what goes to :data:`RESULTS_NAME`.

    ``status`` is ``ok`` (with ``result``, ``structures`` and ``seconds``), ``refused`` (the task raised one
    of :data:`REFUSALS`: it cannot use its inputs), ``failed`` (another exception) or ``import_error``
    (the task cannot be loaded by this Python); the last three carry ``error`` (type, message, traceback).
    """
    start = time.perf_counter()
    try:
        function = load_task(content['task'])
        inputs = read_inputs(content, folder)
    except (KeyError, ValueError, TypeError) as exception:
        return {'status': 'import_error', 'error': _error(exception)}
    try:
        output = function(inputs)
    except REFUSALS as exception:
        return {'status': 'refused', 'error': _error(exception), 'seconds': time.perf_counter() - start}
    except Exception as exception:
        return {'status': 'failed', 'error': _error(exception), 'seconds': time.perf_counter() - start}
    return {
        'status': 'ok',
        'result': plain(output.get('result', {})),
        'structures': {key: atoms_to_dict(atoms) for key, atoms in output.get('structures', {}).items()},
        'seconds': time.perf_counter() - start,
    }


def _error(exception: BaseException) -> dict:
    return {'type': type(exception).__name__, 'message': str(exception), 'traceback': traceback.format_exc()}


def main(folder: str = '.') -> int:
    """Read :data:`INPUTS_NAME` in ``folder``, run its task and write :data:`RESULTS_NAME`; return the exit status.

    0 whenever the results file was written (the parser reads the task's own status from it), 2 when the
    inputs could not be read.
    """
    folder = Path(folder)
    try:
        content = json.loads((folder / INPUTS_NAME).read_text())
    except (OSError, ValueError) as exception:
        (folder / RESULTS_NAME).write_text(json.dumps({'status': 'input_error', 'error': _error(exception)}))
        return 2
    results = run_task(content, folder)
    (folder / RESULTS_NAME).write_text(json.dumps(results))
    print(f'{content.get("task")}: {results["status"]} in {results.get("seconds", 0.0):.1f} s', flush=True)
    return 0
