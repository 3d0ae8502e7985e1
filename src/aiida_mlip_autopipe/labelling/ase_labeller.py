"""A labeller that costs nothing: an ASE calculator (EMT) standing in for DFT.

Used by fast tests of the whole loop and by the selection benchmark. Structures in,
``TrainingSet`` out, through a ``calcfunction`` so the graph shows where each label came from.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import Process, WorkChain, calcfunction
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

from ..data import TrainingSet
from .functions import record_failures
from .geometry import too_close_reason

#: Elements ASE's EMT parametrises.
EMT_ELEMENTS = frozenset({'Al', 'Cu', 'Ag', 'Au', 'Ni', 'Pd', 'Pt', 'H', 'C', 'N', 'O'})
#: Labeller name -> elements it can label.
ASE_LABELLERS = {'emt': EMT_ELEMENTS}


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


@calcfunction
def label_with_ase(calculator: orm.Str, **structures) -> TrainingSet:
    """Label ``structures`` with the ASE calculator named ``calculator``; keys become ``config_type``.

    Each label's ``source_uuid`` is this calcfunction's node.
    """
    source = Process.current().node.uuid
    frames = []
    for key in sorted(structures):
        atoms = structures[key].get_ase()
        atoms.info.update(config_type=key, source_uuid=source)
        frames.append(atoms)
    check_ase_labeller(calculator.value, {symbol for atoms in frames for symbol in atoms.get_chemical_symbols()})
    return TrainingSet(frames=label_atoms(frames, calculator.value))


class AseLabellingWorkChain(WorkChain):
    """Label structures with an ASE calculator; same ports as ``DftLabellingWorkChain``.

    Structures with atoms closer than ``min_distance`` are refused and recorded in ``failures``.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace('structures', valid_type=orm.StructureData, dynamic=True, help='Structures to label.')
        spec.input('calculator', valid_type=orm.Str, default=lambda: orm.Str('emt'), help='ASE labeller name.')
        spec.input('min_distance', valid_type=orm.Float, default=lambda: orm.Float(1.0), help='Shortest distance (A).')
        spec.inputs.validator = _validate_ase_inputs
        spec.outline(cls.label)
        spec.output('training_set', valid_type=TrainingSet, help='Every successful label.')
        spec.output('failures', valid_type=orm.Dict, help='Refused structures with the reason.')

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
        training_set = label_with_ase(self.inputs.calculator, **accepted, metadata={'call_link_label': 'label'})
        self.out('training_set', training_set)
        self.out('failures', record_failures(orm.Dict(failures), metadata={'call_link_label': 'failures'}))
        self.report(
            f'labelled {training_set.count} of {len(self.inputs.structures)} structures with '
            f'{self.inputs.calculator.value}; TrainingSet<{training_set.pk}>'
        )


def _validate_ase_inputs(inputs, _):
    structures = inputs.get('structures', {})
    if not structures:
        return '`structures`: give at least one structure to label'
    elements = {kind.symbol for structure in structures.values() for kind in structure.kinds}
    try:
        check_ase_labeller(inputs['calculator'].value, elements)
    except ValueError as exception:
        return f'`calculator`: {exception}'
    return None
