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
    For a relaxation (``calculation: relax``) the positions and cell are those of the trajectory's
    last step, the ones its energy, forces and stress belong to: pw.x's output structure of a run
    stopped before convergence is already one ionic step further.
    """
    atoms = structure.get_ase()
    calculation = parameters.creator
    if calculation is not None and _is_relaxation(calculation):
        atoms.set_cell(trajectory.get_array('cells')[-1])
        atoms.positions = trajectory.get_array('positions')[-1]
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
    atoms.info['source_uuid'] = calculation.uuid if calculation else ''
    return atoms


def _is_relaxation(calculation) -> bool:
    """Return whether the pw.x ``calculation`` relaxed the positions (``calculation: relax``)."""
    link = calculation.base.links.get_incoming(link_label_filter='parameters').first()  # not every input
    return link is not None and link.node.get_dict().get('CONTROL', {}).get('calculation') == 'relax'


@calcfunction
def generate_training_set(**labels):
    """Collect pw.x labels into one ``TrainingSet``.

    Inputs come in triples per structure key ``K``: ``K_structure`` (StructureData: the labelled
    one, or the final structure of a relaxation), ``K_parameters`` (``output_parameters``) and
    ``K_trajectory`` (``output_trajectory``), sorted by key. The last frame of the trajectory gives
    the forces and stress. Each configuration remembers the uuid of the calculation that labelled it, and
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


def check_relax_keys(inputs, structures) -> str | None:
    """Return why the ``relax`` input of a labelling work chain is wrong (a key with no structure), or ``None``."""
    if 'relax' not in inputs:
        return None
    keys = inputs['relax'].get_list()
    unknown = sorted({str(key) for key in keys} - set(structures))
    if unknown or not all(isinstance(key, str) for key in keys):
        return f'`relax`: no structure named {", ".join(unknown) or "by a non-string key"}; give keys of `structures`'
    return None


@calcfunction
def record_failures(failures: orm.Dict) -> orm.Dict:
    """Record the structures that were refused or failed, with their exit status and reason."""
    return orm.Dict(failures.get_dict())


@calcfunction
def record_relaxations(relaxations: orm.Dict) -> orm.Dict:
    """Record, per relaxed structure key, whether the relaxation converged and how it ended."""
    return orm.Dict(relaxations.get_dict())
