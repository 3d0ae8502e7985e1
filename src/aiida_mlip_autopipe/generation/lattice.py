"""Parent lattices and lattice constants estimated from the elements (Vegard's law)."""

from __future__ import annotations

import math

from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, reference_states

#: Prototype lattices the generation knows by name.
PROTOTYPES = ('fcc', 'bcc', 'hcp')

#: Ideal hcp axial ratio.
IDEAL_C_OVER_A = math.sqrt(8.0 / 3.0)


def atomic_volume(element: str) -> float:
    """Return the volume per atom (A^3) of ``element`` in ASE's reference crystal.

    Raises ``ValueError`` when ASE has no crystalline reference state for the element.
    """
    if element not in atomic_numbers:
        raise ValueError(f'unknown element `{element}`')
    state = reference_states[atomic_numbers[element]] or {}
    symmetry = state.get('symmetry')
    a = state.get('a')
    if symmetry == 'fcc':
        return a**3 / 4
    if symmetry == 'bcc':
        return a**3 / 2
    if symmetry == 'hcp':
        return math.sqrt(3) / 4 * a**3 * state.get('c/a', IDEAL_C_OVER_A)
    if symmetry == 'diamond':
        return a**3 / 8
    if symmetry == 'sc':
        return a**3
    raise ValueError(
        f'no reference lattice constant for `{element}` (its reference state is {symmetry or "unknown"}): '
        'give `lattice_constants` explicitly'
    )


def lattice_constant_from_volume(lattice: str, volume: float) -> float:
    """Return the lattice constant ``a`` (A) of ``lattice`` with ``volume`` A^3 per atom."""
    if lattice == 'fcc':
        return (4 * volume) ** (1 / 3)
    if lattice == 'bcc':
        return (2 * volume) ** (1 / 3)
    if lattice == 'hcp':
        return (4 * volume / (math.sqrt(3) * IDEAL_C_OVER_A)) ** (1 / 3)
    raise ValueError(f'unknown lattice `{lattice}`; allowed: {", ".join(PROTOTYPES)}')


def estimate_lattice_constant(lattice: str, composition: dict[str, float]) -> float:
    """Return Vegard's-law lattice constant of ``lattice`` for ``composition`` (fractions summing to 1).

    Each element's lattice constant in ``lattice`` is the one that keeps its reference atomic
    volume; the alloy's is their composition-weighted mean.
    """
    return sum(
        fraction * lattice_constant_from_volume(lattice, atomic_volume(element))
        for element, fraction in composition.items()
    )


def primitive_cell(lattice: str, a: float, element: str = 'X') -> Atoms:
    """Return the primitive cell of ``lattice`` with lattice constant ``a`` occupied by ``element``."""
    if lattice not in PROTOTYPES:
        raise ValueError(f'unknown lattice `{lattice}`; allowed: {", ".join(PROTOTYPES)}')
    symbol = 'H' if element == 'X' else element
    if lattice == 'hcp':
        atoms = bulk(symbol, 'hcp', a=a, c=a * IDEAL_C_OVER_A)
    else:
        atoms = bulk(symbol, lattice, a=a)
    return atoms


def conventional_cell(lattice: str, a: float, element: str) -> Atoms:
    """Return the conventional cell (cubic for fcc and bcc, orthohexagonal-free 2-atom cell for hcp)."""
    if lattice == 'hcp':
        return primitive_cell(lattice, a, element)
    return bulk(element, lattice, a=a, cubic=True)
