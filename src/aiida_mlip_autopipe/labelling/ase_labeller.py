"""A labeller that costs nothing: an ASE calculator (EMT) standing in for DFT.

Used by fast tests of the whole loop and by the selection benchmark. Structures in,
``TrainingSet`` out, through a ``calcfunction`` so the graph shows where each label came from.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import Process, WorkChain, calcfunction
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.optimize import BFGS

from ..common.geometry import too_close_reason
from ..data import TrainingSet
from .functions import check_relax_keys, record_failures

#: Elements ASE's EMT parametrises.
EMT_ELEMENTS = frozenset({'Al', 'Cu', 'Ag', 'Au', 'Ni', 'Pd', 'Pt', 'H', 'C', 'N', 'O'})
#: Labeller name -> elements it can label.
ASE_LABELLERS = {'emt': EMT_ELEMENTS}
#: Force criterion (eV/A) and step limit of a relaxation of atomic positions (cell fixed).
RELAX_FMAX = 0.01
RELAX_STEPS = 300


def get_ase_calculator(name: str) -> Calculator:
    """Return a fresh ASE calculator for labeller ``name`` (one of :data:`ASE_LABELLERS`)."""
    if name == 'emt':
        from ase.calculators.emt import EMT

        return EMT()
    raise ValueError(f'unknown ASE labeller `{name}`; allowed: {", ".join(ASE_LABELLERS)}')


def check_ase_labeller(name: str, elements) -> None:
    """Raise ``ValueError`` if labeller ``name`` is unknown or cannot label all ``elements``."""
    if name not in ASE_LABELLERS:
        raise ValueError(f'unknown ASE labeller `{name}`; allowed: {", ".join(ASE_LABELLERS)}')
    missing = sorted(set(elements) - ASE_LABELLERS[name])
    if missing:
        raise ValueError(
            f'labeller `{name}` cannot label {", ".join(missing)}; it knows {", ".join(sorted(ASE_LABELLERS[name]))}'
        )


def label_atoms(frames, name: str):
    """Label ASE ``frames`` in place with calculator ``name``; returns them with single-point results."""
    calculator = get_ase_calculator(name)
    for atoms in frames:
        atoms.calc = calculator
        results = {
            'energy': atoms.get_potential_energy(),
            'forces': atoms.get_forces(),
            'stress': atoms.get_stress() if atoms.pbc.all() else None,
        }
        atoms.calc = SinglePointCalculator(atoms, **{k: v for k, v in results.items() if v is not None})
    return frames


def relax_atoms(atoms, name: str, fmax: float = RELAX_FMAX, steps: int = RELAX_STEPS) -> dict:
    """Relax the positions of ``atoms`` in place (cell fixed) with BFGS and calculator ``name``.

    Returns the record of the relaxation: ``converged`` (largest force below ``fmax`` within
    ``steps``), ``steps`` taken, the largest force at the end (eV/A) and the energy change (eV).
    ``atoms.info`` gets ``relaxed`` (True) and ``relax_converged``.
    """
    atoms.calc = get_ase_calculator(name)
    initial = atoms.get_potential_energy()
    optimizer = BFGS(atoms, logfile=None)
    converged = bool(optimizer.run(fmax=fmax, steps=steps))
    record = {
        'converged': converged,
        'steps': int(optimizer.nsteps),
        'max_force': float(np.linalg.norm(atoms.get_forces(), axis=1).max()) if len(atoms) else 0.0,
        'energy_change': float(atoms.get_potential_energy() - initial),
        'fmax': float(fmax),
    }
    atoms.calc = None
    atoms.info.update(relaxed=True, relax_converged=converged)
    return record


@calcfunction
def label_with_ase(calculator: orm.Str, relax: orm.List | None = None, **structures) -> dict:
    """Label ``structures`` with the ASE calculator named ``calculator``; keys become ``config_type``.

    The structures named in ``relax`` first have their atomic positions relaxed (BFGS, cell fixed,
    :data:`RELAX_FMAX`, at most :data:`RELAX_STEPS` steps): their label is the relaxed structure with
    its energy, forces and stress. Returns ``training_set`` and, when ``relax`` names any structure,
    ``relaxations`` (``{key: record}``, see :func:`relax_atoms`). Each label's ``source_uuid`` is this
    calcfunction's node.
    """
    source = Process.current().node.uuid
    to_relax = set(relax.get_list()) if relax is not None else set()
    frames, records = [], {}
    for key in sorted(structures):
        atoms = structures[key].get_ase()
        atoms.info.update(config_type=key, source_uuid=source)
        frames.append(atoms)
    check_ase_labeller(calculator.value, {symbol for atoms in frames for symbol in atoms.get_chemical_symbols()})
    for atoms in frames:
        if atoms.info['config_type'] in to_relax:
            records[atoms.info['config_type']] = relax_atoms(atoms, calculator.value)
    outputs = {'training_set': TrainingSet(frames=label_atoms(frames, calculator.value))}
    if records:
        outputs['relaxations'] = orm.Dict(records)
    return outputs


class AseLabellingWorkChain(WorkChain):
    """Label structures with an ASE calculator: the ``structures``, ``min_distance`` and ``relax`` inputs and the
    outputs of ``DftLabellingWorkChain``, with ``calculator`` in place of the pw.x settings.

    Structures with atoms closer than ``min_distance`` are refused and recorded in ``failures``. The
    structures named in ``relax`` are labelled after their atomic positions were relaxed (cell fixed);
    ``relaxations`` records, per key, whether each relaxation converged.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace('structures', valid_type=orm.StructureData, dynamic=True, help='Structures to label.')
        spec.input('calculator', valid_type=orm.Str, default=lambda: orm.Str('emt'), help='ASE labeller name.')
        spec.input('min_distance', valid_type=orm.Float, default=lambda: orm.Float(1.0), help='Shortest distance (A).')
        spec.input(
            'relax',
            valid_type=orm.List,
            required=False,
            help='Keys of the structures whose atomic positions are relaxed (cell fixed) before they are labelled.',
        )
        spec.inputs.validator = _validate_ase_inputs
        spec.outline(cls.label)
        spec.output('training_set', valid_type=TrainingSet, help='Every successful label.')
        spec.output('failures', valid_type=orm.Dict, help='Refused structures with the reason.')
        spec.output(
            'relaxations',
            valid_type=orm.Dict,
            required=False,
            help='Per relaxed key: converged, steps, largest final force (eV/A), energy change (eV).',
        )

    def label(self):
        """Refuse structures with close atoms, label the rest in one calcfunction."""
        failures = {}
        accepted = {}
        for key, structure in sorted(self.inputs.structures.items()):
            reason = too_close_reason(structure.get_ase(), self.inputs.min_distance.value)
            if reason:
                failures[key] = {'stage': 'refused', 'exit_status': None, 'message': reason}
                self.report(f'refused `{key}`: {reason}')
            else:
                accepted[key] = structure
        relax = sorted(set(self.inputs.relax.get_list()) & set(accepted)) if 'relax' in self.inputs else []
        extra = {'relax': orm.List(relax)} if relax else {}
        outputs = label_with_ase(self.inputs.calculator, **extra, **accepted, metadata={'call_link_label': 'label'})
        training_set = outputs['training_set']
        self.out('training_set', training_set)
        if 'relaxations' in outputs:
            self.out('relaxations', outputs['relaxations'])
            for key, record in sorted(outputs['relaxations'].get_dict().items()):
                self.report(
                    f'relaxed `{key}` in {record["steps"]} steps: {record["energy_change"]:+.4f} eV, largest force '
                    f'{record["max_force"]:.4f} eV/A{"" if record["converged"] else " (not converged)"}'
                )
        self.out('failures', record_failures(orm.Dict(failures), metadata={'call_link_label': 'failures'}))
        self.report(
            f'labelled {training_set.count} of {len(self.inputs.structures)} structures with '
            f'{self.inputs.calculator.value}; TrainingSet<{training_set.pk}>'
        )


def _validate_ase_inputs(inputs, _):
    structures = inputs.get('structures', {})
    if not structures:
        return '`structures`: give at least one structure to label'
    message = check_relax_keys(inputs, structures)
    if message:
        return message
    elements = {kind.symbol for structure in structures.values() for kind in structure.kinds}
    try:
        check_ase_labeller(inputs['calculator'].value, elements)
    except ValueError as exception:
        return f'`calculator`: {exception}'
    return None
