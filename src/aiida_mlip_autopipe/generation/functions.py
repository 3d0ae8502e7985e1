"""Calcfunctions of the generation stage: each generated structure is the output of one of them."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction
from ase import Atoms

from . import plan
from .spec import validate_spec

#: Output holding ``{structure key: {'method': ..., 'parameters': ...}}`` of a generation calcfunction.
INFO_LABEL = 'generation_info'


def method_of(key: str) -> str:
    """Return the generation method encoded in a structure key ``<method>_<index>``."""
    return key.rsplit('_', 1)[0]


def _to_atoms(structures: dict) -> dict[str, Atoms]:
    atoms_by_key = {}
    for key, node in structures.items():
        atoms = node.get_ase()
        atoms.info = {'method': method_of(key), 'parameters': {}}
        atoms_by_key[key] = atoms
    return atoms_by_key


def _outputs(structures: dict[str, Atoms]) -> dict:
    outputs = {key: orm.StructureData(ase=atoms) for key, atoms in structures.items()}
    outputs[INFO_LABEL] = orm.Dict(
        {
            key: {'method': atoms.info['method'], 'parameters': atoms.info['parameters']}
            for key, atoms in structures.items()
        }
    )
    return outputs


@calcfunction
def generate_bulk_structures(spec: orm.Dict) -> dict:
    """Make the end members and the enumerated ordered cells of a generation spec."""
    return _outputs(plan.bulk_structures(validate_spec(spec.get_dict())))


@calcfunction
def generate_sqs_structure(spec: orm.Dict, task: orm.Dict) -> dict:
    """Make one SQS cell; ``correlations`` holds its objective and pair/triplet mismatch to the random alloy."""
    atoms, figures = plan.sqs_structure(validate_spec(spec.get_dict()), task.get_dict())
    figures.update(atoms.info['parameters'])
    return {'structure': orm.StructureData(ase=atoms), 'correlations': orm.Dict(figures)}


@calcfunction
def generate_distorted_structures(spec: orm.Dict, **bulk) -> dict:
    """Make the volume-strain series, random strains and rattled cells of the bulk cells."""
    return _outputs(plan.distorted_structures(validate_spec(spec.get_dict()), _to_atoms(bulk)))


@calcfunction
def generate_defect_structures(spec: orm.Dict, **bulk) -> dict:
    """Make vacancies, interstitials and antisites in supercells of the bulk cells."""
    return _outputs(plan.defect_structures(validate_spec(spec.get_dict()), _to_atoms(bulk)))


@calcfunction
def generate_surface_structures(spec: orm.Dict, **bulk) -> dict:
    """Make low-index slabs of the end members and small ordered cells."""
    return _outputs(plan.surface_structures(validate_spec(spec.get_dict()), _to_atoms(bulk)))


@calcfunction
def select_unique_structures(spec: orm.Dict, **candidates) -> orm.Dict:
    """Record which candidates are kept: too close or too large ones refused, symmetry duplicates removed."""
    return orm.Dict(plan.screen(validate_spec(spec.get_dict()), _to_atoms(candidates)))
