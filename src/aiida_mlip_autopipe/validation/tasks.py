"""The validation's minutes-long work as tasks: run by ``PythonTaskCalculation`` jobs, not in the daemon.

Pure functions of :class:`~aiida_mlip_autopipe.common.task_io.TaskInputs` (no AiiDA): the job's
Python imports them. Each takes the validation's settings as ``parameters`` (the Dict the work chain
makes in ``setup``) and the potential's files.
"""

from __future__ import annotations

from ..common.task_io import TaskInputs, task
from .properties import calculator_properties, md_stability
from .stability import md_plan


def ordered_cells(settings: dict, structures: dict) -> dict:
    """Return the ``structures`` named in ``settings['cells']``, in that order."""
    return {name: structures[name] for name in settings['cells'] if name in structures}


@task
def potential_properties(inputs: TaskInputs) -> dict:
    """Return the potential's EOS, elastic constants, vacancy and formation energies and phonons of the
    validation cells (``structures``, by cell name), each at its own equilibrium
    (:func:`~.properties.calculator_properties`)."""
    settings = inputs.parameters
    rows = calculator_properties(
        ordered_cells(settings, inputs.structures),
        inputs.calculator(active_set=False),
        properties=settings['properties'],
        strains=settings['strains'],
        supercell=settings['supercell'],
        phonon_supercell=settings['phonon_supercell'],
    )
    return {'result': rows}


@task
def md_stability_runs(inputs: TaskInputs) -> dict:
    """Return ``{'runs': [...]}``: the MD stability runs of :func:`~.stability.md_plan` with pyace in ASE on the
    MD cells (``structures``, by cell name), gamma from the active set when the potential has one
    (:func:`~.properties.md_stability`)."""
    settings = inputs.parameters
    active_set = inputs.potential_file('asi') is not None
    calculator = inputs.calculator(active_set=active_set)
    runs = []
    for plan in md_plan(settings):
        swaps = plan['swaps'] or {'every': 0, 'attempts': 0}
        run = md_stability(
            inputs.structures[plan['cell']],
            calculator,
            plan['temperature'],
            settings['md_steps'],
            timestep_fs=settings['md_timestep_fs'],
            gamma_halt=settings['gamma_halt'],
            seed=plan['seed'],
            swap_every=swaps['every'],
            swap_attempts=swaps['attempts'],
        )
        run.update(cell=plan['cell'], seed=plan['seed'], engine='ase')
        if not active_set:
            run['max_gamma'] = None
        runs.append(run)
    return {'result': {'runs': runs}}
