"""Calcfunctions of the labelling stage: they record on the graph how labels became data."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction
from ase.calculators.singlepoint import SinglePointCalculator

from ..data import TrainingSet

#: 1 eV/A^3 in GPa.
EV_PER_A3_IN_GPA = 160.21766208


def atoms_from_pw_outputs(structure: orm.StructureData, parameters: orm.Dict, trajectory: orm.TrajectoryData):
    """Return ASE atoms labelled with the energy, forces and stress of one pw.x SCF.

    aiida-quantumespresso gives the energy in eV, forces in eV/A and the stress in GPa with
    Quantum ESPRESSO's sign (positive under compression); ASE's stress has the opposite sign.
    """
    atoms = structure.get_ase()
    results = {
        'energy': parameters['energy'],
        'free_energy': parameters['energy'],
        'forces': trajectory.get_array('forces')[-1],
    }
    if 'stress' in trajectory.get_arraynames():
        stress = -trajectory.get_array('stress')[-1] / EV_PER_A3_IN_GPA
        results['stress'] = np.array(
            [stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]]
        )
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info['source_uuid'] = parameters.creator.uuid if parameters.creator else ''
    return atoms


@calcfunction
def generate_training_set(**labels):
    """Collect pw.x labels into one ``TrainingSet``.

    Inputs come in triples per structure key ``K``: ``K_structure`` (StructureData),
    ``K_parameters`` (``output_parameters``) and ``K_trajectory`` (``output_trajectory``), sorted by
    key. Each configuration remembers the uuid of the calculation that labelled it, and
    its key as ``config_type``.
    """
    keys = sorted(name[: -len('_structure')] for name in labels if name.endswith('_structure'))
    frames = []
    for key in keys:
        atoms = atoms_from_pw_outputs(
            labels[f'{key}_structure'], labels[f'{key}_parameters'], labels[f'{key}_trajectory']
        )
        atoms.info['config_type'] = key
        frames.append(atoms)
    return TrainingSet(frames=frames)


@calcfunction
def record_failures(failures: orm.Dict) -> orm.Dict:
    """Record the structures that were refused or failed, with their exit status and reason."""
    return orm.Dict(failures.get_dict())
