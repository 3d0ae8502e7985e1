"""A labeller that costs nothing: an ASE calculator (EMT) standing in for DFT.

Used by fast tests of the whole loop and by the selection benchmark. Structures in,
``TrainingSet`` out, through a ``calcfunction`` so the graph shows where each label came from.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import Process, calcfunction
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

from ..data import TrainingSet

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
