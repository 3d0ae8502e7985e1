"""Equation of state of a potential and of its labeller on the same structures.

Pure helpers (the cells to validate, isotropically strained series, Birch-Murnaghan fits, the
lattice parameter from a fitted volume, the comparison of both sides on the same labelled
structures); no AiiDA, so a task job imports them. The calcfunctions that make the strained
structures and compare on them are in :mod:`.functions`.
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, reference_states
from ase.eos import EquationOfState
from ase.units import GPa

from ..common.geometry import volume_strained

#: Volume strains of the EOS points (fractions of the reference volume).
VOLUME_STRAINS = (-0.06, -0.03, 0.0, 0.03, 0.06)
#: Atoms in the conventional cubic cell, by lattice symmetry.
CONVENTIONAL_ATOMS = {'fcc': 4, 'bcc': 2, 'diamond': 8}


def ordered_compound(first: str, second: str) -> tuple[str, Atoms] | None:
    """Return the name and cell of the ordered compound of a pair: A3B (fcc, L1_2) or AB (bcc, B2) in the
    conventional cubic cell of ``first``, ``second`` on its first site, with a Vegard's-law lattice
    parameter on fcc; None unless both elements are fcc or bcc in their reference states."""
    states = [reference_states[atomic_numbers[symbol]] for symbol in (first, second)]
    if not all(state and state.get('symmetry') in ('fcc', 'bcc') for state in states):
        return None
    a = 0.75 * states[0]['a'] + 0.25 * states[1]['a'] if states[0]['symmetry'] == 'fcc' else None
    alloy = bulk(first, states[0]['symmetry'], a=a or states[0]['a'], cubic=True)
    alloy.symbols[0] = second
    return f'{first}{len(alloy) - 1}{second}', alloy


def reference_cell(elements: list[str]) -> dict[str, Atoms]:
    """Return the cells to validate: each end member in its ASE reference structure, plus the ordered
    compound (:func:`ordered_compound`) of every pair of cubic elements, the pairs in the order of
    ``elements`` (a binary has one: ``Cu3Au``; Cu, Ag, Au give ``Cu3Ag``, ``Cu3Au``, ``Ag3Au``)."""
    cells = {symbol: bulk(symbol) for symbol in elements}
    for first, second in itertools.combinations(elements, 2):
        compound = ordered_compound(first, second)
        if compound is not None:
            cells[compound[0]] = compound[1]
    return cells


def strained_series(atoms: Atoms, strains=VOLUME_STRAINS) -> list[Atoms]:
    """Return copies of ``atoms`` isotropically scaled to the given volume strains."""
    return [volume_strained(atoms, strain) for strain in strains]


def fit_eos(volumes, energies) -> dict[str, float]:
    """Fit Birch-Murnaghan; return equilibrium volume per atom-free cell (A^3), energy (eV), bulk modulus (GPa)."""
    eos = EquationOfState(np.asarray(volumes), np.asarray(energies), eos='birchmurnaghan')
    v0, e0, b = eos.fit()
    if not (np.isfinite([v0, e0, b]).all() and v0 > 0 and b > 0):
        raise ValueError(f'the fit gives volume {v0:.4g} A^3 and bulk modulus {b / GPa:.4g} GPa')
    return {'volume': float(v0), 'energy': float(e0), 'bulk_modulus_gpa': float(b / GPa)}


def lattice_parameter(name: str, atoms: Atoms, volume: float) -> float:
    """Return the lattice parameter (A) of cell ``name`` (``atoms`` scaled to ``volume``).

    Cubic lattices give the conventional cubic edge, from the volume per atom; others the length
    of the first cell vector.
    """
    first = name if name in atomic_numbers else next(s for s in atoms.get_chemical_symbols() if name.startswith(s))
    symmetry = (reference_states[atomic_numbers[first]] or {}).get('symmetry')
    if symmetry in CONVENTIONAL_ATOMS:
        return float((CONVENTIONAL_ATOMS[symmetry] * volume / len(atoms)) ** (1 / 3))
    return float(np.linalg.norm(atoms.cell[0]) * (volume / atoms.get_volume()) ** (1 / 3))


def eos_key(name: str, index: int) -> str:
    """Return the structure key of EOS point ``index`` of cell ``name``."""
    return f'eos_{name}_{index}'


def compare_eos_frames(frames, calculator) -> dict:
    """Return per cell the labeller's and the potential's EOS fits and their relative errors.

    ``frames`` are labelled ASE atoms whose ``config_type`` is ``eos_<cell>_<i>``; the lattice
    parameter is taken as the cube root of the volume per atom times that of the reference cell.
    """
    cells: dict[str, list] = {}
    for atoms in frames:
        name = atoms.info['config_type'].removeprefix('eos_').rsplit('_', 1)[0]
        cells.setdefault(name, []).append(atoms)
    result = {}
    for name, series in sorted(cells.items()):
        volumes = [atoms.get_volume() for atoms in series]
        reference = [atoms.get_potential_energy() for atoms in series]
        predicted = []
        for atoms in series:
            copy = atoms.copy()
            copy.calc = calculator
            predicted.append(copy.get_potential_energy())
        if len(series) < 5:
            result[name] = {'error': f'only {len(series)} of 5 EOS points were labelled'}
            continue
        fits = {'labeller': fit_eos(volumes, reference), 'potential': fit_eos(volumes, predicted)}
        middle = series[len(series) // 2]
        for side in fits.values():
            side['lattice_a'] = lattice_parameter(name, middle, side['volume'])
        result[name] = {
            **fits,
            'relative_error': {
                'lattice_a': fits['potential']['lattice_a'] / fits['labeller']['lattice_a'] - 1,
                'bulk_modulus': fits['potential']['bulk_modulus_gpa'] / fits['labeller']['bulk_modulus_gpa'] - 1,
            },
        }
    return result
