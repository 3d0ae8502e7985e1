"""Material properties of a calculator: cubic elastic constants, vacancy and alloy formation energies, phonons,
MD stability.

Pure functions on ASE atoms and calculators, testable without a profile. The same functions give the
potential's side (any ASE calculator) and, from single-point labels (energies and stresses of the
structures they generate), the labeller's side.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from ase.constraints import FixCom
from ase.data import atomic_numbers, reference_states
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.optimize import BFGS
from ase.units import GPa

from .cells import cell_kind, composition_of
from .eos import fit_eos, strained_series
from .phonons import PHONON_SUPERCELL, calculator_phonons

LOGGER = logging.getLogger(__name__)

#: Strains (fractions) of the elastic-constant series: a linear fit of stress on strain over these.
ELASTIC_STRAINS = (-0.01, -0.005, 0.005, 0.01)
#: Deformation modes: ``uniaxial`` (e_xx) gives C11 and C12, ``shear`` (engineering gamma_yz) gives C44.
ELASTIC_MODES = ('uniaxial', 'shear')
#: Repeats of the conventional cell in each direction for the vacancy supercell (fcc: 32 sites).
VACANCY_SUPERCELL = 2
#: Force criterion (eV/A) and step limit of a relaxation of atomic positions with the potential (the
#: labellers relax to the same force criterion).
RELAX_FMAX = 0.01
RELAX_STEPS = 300
#: Properties a validation can compute.
PROPERTIES = ('eos', 'elastic', 'vacancy', 'formation', 'phonons', 'md')
#: Default tolerances: relative for lattice parameter, bulk modulus and elastic constants; eV for the
#: vacancy, eV/atom for formation energies; phonon frequencies relative to the labeller's highest
#: frequency (5 %: frequencies go as the square root of the force constants, so about the 10 % of the
#: elastic constants).
DEFAULT_TOLERANCES = {
    'lattice_a': 0.005,
    'bulk_modulus': 0.05,
    'elastic': 0.10,
    'vacancy_energy': 0.1,
    'formation_energy': 0.005,
    'phonon_frequency': 0.05,
}
#: Tolerance key of each compared quantity.
TOLERANCE_OF = {
    'lattice_a': 'lattice_a',
    'bulk_modulus': 'bulk_modulus',
    'c11': 'elastic',
    'c12': 'elastic',
    'c44': 'elastic',
    'vacancy_energy': 'vacancy_energy',
    'formation_energy': 'formation_energy',
    'max_frequency': 'phonon_frequency',
    'phonon_rmse': 'phonon_frequency',
    'phonon_max_error': 'phonon_frequency',
}
#: Quantities whose error is a difference (potential - labeller) rather than a ratio.
ABSOLUTE_QUANTITIES = ('vacancy_energy', 'formation_energy')


def check_tolerances(tolerances: dict) -> dict:
    """Return the default tolerances updated with ``tolerances``; raise ``ValueError`` naming a bad key or value."""
    unknown = sorted(set(tolerances) - set(DEFAULT_TOLERANCES))
    if unknown:
        raise ValueError(f'unknown tolerance {", ".join(unknown)}; allowed: {", ".join(DEFAULT_TOLERANCES)}')
    merged = dict(DEFAULT_TOLERANCES)
    for key, value in tolerances.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise ValueError(f'tolerance `{key}` must be a positive number, not {value!r}')
        merged[key] = float(value)
    return merged


def element_of(name: str, atoms: Atoms) -> str:
    """Return the element whose lattice names cell ``name`` (the element itself, or the alloy's first)."""
    if name in atomic_numbers:
        return name
    return next(symbol for symbol in atoms.get_chemical_symbols() if name.startswith(symbol))


def is_cubic(name: str, atoms: Atoms) -> bool:
    """Return whether cell ``name`` is a cubic lattice (fcc, bcc, diamond or an ordered cubic alloy)."""
    state = reference_states[atomic_numbers[element_of(name, atoms)]] or {}
    return state.get('symmetry') in ('fcc', 'bcc', 'diamond')


def scaled_to_volume(atoms: Atoms, volume_per_atom: float) -> Atoms:
    """Return a copy of ``atoms`` isotropically scaled to ``volume_per_atom`` (A^3)."""
    scaled = atoms.copy()
    factor = (volume_per_atom * len(atoms) / atoms.get_volume()) ** (1 / 3)
    scaled.set_cell(atoms.cell * factor, scale_atoms=True)
    return scaled


def conventional_cell(name: str, atoms: Atoms) -> Atoms:
    """Return the conventional (cubic where possible) cell of validation cell ``name``, same volume per atom.

    An element in a cubic reference state gets ASE's cubic cell; the ordered alloy of
    :func:`reference_cell` already is one; other cells are returned as they are.
    """
    if name in atomic_numbers and is_cubic(name, atoms):
        cubic = bulk(name, cubic=True)
        return scaled_to_volume(cubic, atoms.get_volume() / len(atoms))
    return atoms.copy()


# -- elastic constants --------------------------------------------------------------------------------


def strain_matrix(mode: str, strain: float) -> np.ndarray:
    """Return the symmetric strain tensor of ``mode`` (``uniaxial``: e_xx; ``shear``: engineering gamma_yz)."""
    epsilon = np.zeros((3, 3))
    if mode == 'uniaxial':
        epsilon[0, 0] = strain
    elif mode == 'shear':
        epsilon[1, 2] = epsilon[2, 1] = strain / 2
    else:
        raise ValueError(f'unknown strain mode `{mode}`; allowed: {", ".join(ELASTIC_MODES)}')
    return epsilon


def strained_cell(atoms: Atoms, mode: str, strain: float) -> Atoms:
    """Return ``atoms`` deformed homogeneously by the strain of ``mode`` (ions follow; clamped-ion)."""
    strained = atoms.copy()
    strained.set_cell(atoms.cell @ (np.eye(3) + strain_matrix(mode, strain)).T, scale_atoms=True)
    return strained


def elastic_series(atoms: Atoms, strains=ELASTIC_STRAINS) -> dict[tuple[str, int], Atoms]:
    """Return the strained cells keyed ``(mode, index)`` for every mode and strain."""
    return {
        (mode, index): strained_cell(atoms, mode, strain)
        for mode in ELASTIC_MODES
        for index, strain in enumerate(strains)
    }


def fit_cubic_elastic(stresses: dict[tuple[str, int], np.ndarray], strains=ELASTIC_STRAINS) -> dict[str, float]:
    """Return C11, C12, C44 (GPa) from the slopes of stress (ASE sign, Voigt, eV/A^3) on strain.

    C11 = d sigma_xx / d e_xx, C12 = mean of d sigma_yy and d sigma_zz over d e_xx, C44 =
    d sigma_yz / d gamma_yz. A constant residual stress (a cell slightly off its equilibrium)
    drops out of the slope.
    """
    strains = np.asarray(strains, dtype=float)

    def slope(mode: str, component: int) -> float:
        values = np.array([stresses[(mode, index)][component] for index in range(len(strains))])
        return float(np.polyfit(strains, values, 1)[0] / GPa)

    return {
        'c11': slope('uniaxial', 0),
        'c12': (slope('uniaxial', 1) + slope('uniaxial', 2)) / 2,
        'c44': slope('shear', 3),
    }


# -- vacancy -------------------------------------------------------------------------------------------


def vacancy_site(atoms: Atoms) -> int:
    """Return the index of the atom to remove: the first atom of the most common species."""
    symbols = atoms.get_chemical_symbols()
    majority = max(sorted(set(symbols)), key=symbols.count)
    return symbols.index(majority)


def vacancy_cells(atoms: Atoms, size: int = VACANCY_SUPERCELL) -> tuple[Atoms, Atoms, str]:
    """Return (perfect supercell, supercell with one vacancy, removed species) of a conventional cell."""
    perfect = atoms.repeat(size)
    defect = perfect.copy()
    index = vacancy_site(defect)
    species = defect[index].symbol
    del defect[index]
    return perfect, defect, species


def relax_positions(atoms: Atoms, calculator, fmax: float = RELAX_FMAX, steps: int = RELAX_STEPS) -> tuple[Atoms, bool]:
    """Return a copy of ``atoms`` with positions relaxed (cell fixed) by BFGS, and whether it converged."""
    relaxed = atoms.copy()
    relaxed.calc = calculator
    optimizer = BFGS(relaxed, logfile=None)
    converged = bool(optimizer.run(fmax=fmax, steps=steps))
    relaxed.calc = None
    return relaxed, converged


def vacancy_formation_energy(defect_energy: float, perfect_energy: float, chemical_potential: float) -> float:
    """Return E_f = E(defect) - E(perfect) + mu(removed species) (eV)."""
    return float(defect_energy - perfect_energy + chemical_potential)


# -- the potential's side ----------------------------------------------------------------------------


def energy_of(atoms: Atoms, calculator) -> float:
    """Return the potential energy of a copy of ``atoms`` with ``calculator``."""
    copy = atoms.copy()
    copy.calc = calculator
    return float(copy.get_potential_energy())


def stress_of(atoms: Atoms, calculator) -> np.ndarray:
    """Return the stress (ASE sign, Voigt, eV/A^3) of a copy of ``atoms`` with ``calculator``."""
    copy = atoms.copy()
    copy.calc = calculator
    return np.asarray(copy.get_stress(), dtype=float)


def eos_of_series(name: str, series: list[Atoms], energies) -> dict:
    """Return the Birch-Murnaghan fit of one EOS series with the lattice parameter and the curve.

    ``extrapolated`` is true when the fitted minimum lies outside the sampled volumes (the fit,
    and above all its bulk modulus, is then not to be trusted).
    """
    from .eos import lattice_parameter

    volumes = [atoms.get_volume() for atoms in series]
    try:
        fit = fit_eos(volumes, energies)
    except (RuntimeError, TypeError, ValueError) as exception:  # scipy gives up, or ASE's first guess is complex
        raise ValueError(f'{name}: the equation-of-state fit found no energy minimum ({exception})') from None
    natoms = len(series[0])
    fit['lattice_a'] = lattice_parameter(name, series[len(series) // 2], fit['volume'])
    fit['volume_per_atom'] = fit['volume'] / natoms
    fit['energy_per_atom'] = fit['energy'] / natoms
    fit['extrapolated'] = not min(volumes) <= fit['volume'] <= max(volumes)
    fit['curve'] = {
        'volume_per_atom': [volume / natoms for volume in volumes],
        'energy_per_atom': [float(energy) / natoms for energy in energies],
    }
    return fit


def centred_series(atoms: Atoms, volume_per_atom: float) -> list[Atoms]:
    """Return the EOS series of ``atoms`` centred on ``volume_per_atom`` (the potential's equilibrium)."""
    return strained_series(scaled_to_volume(atoms, volume_per_atom))


def cell_elements(cells) -> list[str]:
    """Return the end members among the validation ``cells`` (names that are chemical symbols), in order."""
    return [name for name in cells if name in atomic_numbers]


def formation_energy(energy_per_atom: float, composition: dict[str, float], references: dict[str, float]) -> float:
    """Return E_f = E/N - sum_i x_i E_i (eV/atom), with ``references`` the end members' energies per atom."""
    return float(energy_per_atom - sum(fraction * references[element] for element, fraction in composition.items()))


def calculator_properties(
    cells: dict[str, Atoms],
    calculator,
    properties=PROPERTIES,
    strains=ELASTIC_STRAINS,
    supercell: int = VACANCY_SUPERCELL,
    phonon_supercell: int = PHONON_SUPERCELL,
) -> dict:
    """Return every property of ``calculator`` for the validation ``cells`` (by name, see :mod:`.cells`),
    each at its own equilibrium.

    EOS: a first fit on the strained series of the cell finds the equilibrium, the reported fit is on
    the series centred there (:func:`centred_series`, the structures the labeller is given). At the
    fitted equilibrium volume: elastic constants (cubic end members and ordered compounds), the
    vacancy (positions relaxed, cell fixed), the formation energy of the compounds and disordered
    cells (:func:`formation_row`) and the phonons of the cubic end members and ordered compounds
    (:func:`~.phonons.calculator_phonons`, the conventional cell repeated ``phonon_supercell`` times).
    """
    elements = cell_elements(cells)
    result: dict[str, dict] = {}
    for name, atoms in cells.items():
        first = strained_series(atoms)
        guess = eos_of_series(name, first, [energy_of(scaled, calculator) for scaled in first])
        series = centred_series(atoms, guess['volume_per_atom'])
        result[name] = {'eos': eos_of_series(name, series, [energy_of(scaled, calculator) for scaled in series])}
        result[name]['eos']['centre_volume_per_atom'] = guess['volume_per_atom']
    for name, atoms in cells.items():
        row = result[name]
        kind = cell_kind(name, elements)
        equilibrium = scaled_to_volume(atoms, row['eos']['volume_per_atom'])
        if 'elastic' in properties and kind != 'sqs' and is_cubic(name, atoms):
            stresses = {key: stress_of(cell, calculator) for key, cell in elastic_series(equilibrium, strains).items()}
            row['elastic'] = fit_cubic_elastic(stresses, strains)
        if 'vacancy' in properties and kind != 'sqs':
            perfect, defect, species = vacancy_cells(conventional_cell(name, equilibrium), supercell)
            relaxed, converged = relax_positions(defect, calculator)
            perfect_energy = energy_of(perfect, calculator)
            mu = chemical_potential(species, name, perfect, perfect_energy, result)
            row['vacancy'] = {
                'vacancy_energy': vacancy_formation_energy(energy_of(relaxed, calculator), perfect_energy, mu),
                'species': species,
                'sites': len(perfect),
                'relaxed': converged,
            }
        if 'formation' in properties and kind != 'element':
            relaxed = None
            if kind == 'sqs':
                cell, converged = relax_positions(equilibrium, calculator)
                cell.calc = calculator
                cell.get_stress()
                relaxed = (cell, converged)
            row['formation'] = formation_row(atoms, row, result, elements, relaxed)
            if relaxed is not None:
                relaxed[0].calc = None
        if 'phonons' in properties and has_phonons(name, atoms, kind):
            row['phonons'] = calculator_phonons(conventional_cell(name, equilibrium), calculator, phonon_supercell)
    return result


def has_phonons(name: str, atoms: Atoms, kind: str) -> bool:
    """Return whether validation cell ``name`` gets phonons: the cubic end members and ordered compounds."""
    return kind != 'sqs' and is_cubic(name, atoms)


def relaxed_volume_energy(energy: float, stress, volume: float, bulk_modulus_gpa: float) -> float:
    """Return the energy (eV) of a cell relaxed at fixed ``volume`` carried to its own equilibrium volume.

    Second order in its residual pressure P = -tr(stress)/3 (``stress`` in ASE's sign and Voigt order,
    eV/A^3): E - P^2 V / (2 B), with ``bulk_modulus_gpa`` from the cell's EOS. The shape of the cell
    stays as it is.
    """
    pressure = -float(np.mean(np.asarray(stress, dtype=float)[:3]))
    return float(energy - pressure**2 * volume / (2 * bulk_modulus_gpa * GPa))


def formation_row(atoms: Atoms, row: dict, rows: dict, elements: list[str], relaxed=None) -> dict:
    """Return the formation energy of one compound or disordered cell against the end members' EOS minima.

    ``row`` is the cell's own (its ``eos`` fit), ``rows`` every cell's by name. Without ``relaxed``
    (the ordered compounds: every atom sits at an inversion centre, so its forces vanish) the energy
    is the cell's EOS minimum. With ``relaxed`` = ``(relaxed atoms with energy and stress, converged)``
    (the disordered cells: positions relaxed at the EOS volume) it is the relaxed energy carried to
    the relaxed cell's own volume (:func:`relaxed_volume_energy`), and the EOS minimum gives
    ``formation_energy_unrelaxed``.
    """
    composition = composition_of(atoms, elements)
    references = {element: rows[element]['eos']['energy_per_atom'] for element in elements}
    unrelaxed = formation_energy(row['eos']['energy_per_atom'], composition, references)
    formation = {'formation_energy': unrelaxed, 'composition': composition, 'relaxed': None}
    if relaxed is not None:
        cell, converged = relaxed
        stress = cell.get_stress()
        energy = relaxed_volume_energy(
            cell.get_potential_energy(), stress, cell.get_volume(), row['eos']['bulk_modulus_gpa']
        )
        formation['formation_energy_unrelaxed'] = unrelaxed
        formation['formation_energy'] = formation_energy(energy / len(cell), composition, references)
        formation['relaxed'] = bool(converged)
        formation['relaxed_pressure_gpa'] = -float(np.mean(stress[:3])) / GPa
    return formation


def chemical_potential(species: str, name: str, perfect: Atoms, perfect_energy: float, rows: dict) -> float:
    """Return the energy per atom of the removed species: the perfect supercell's own for an element, the
    element's fitted EOS minimum for an alloy."""
    if name == species:
        return perfect_energy / len(perfect)
    return rows[species]['eos']['energy_per_atom']


# -- MD stability ------------------------------------------------------------------------------------


def md_stability(
    atoms: Atoms,
    calculator,
    temperature: float,
    steps: int,
    timestep_fs: float = 2.0,
    gamma_halt: float = 10.0,
    seed: int = 0,
    friction: float = 0.01,
    max_temperature_factor: float = 3.0,
    swap_every: int = 0,
    swap_attempts: int = 0,
    swap_temperature: float | None = None,
) -> dict:
    """Run Langevin NVT MD with ``calculator`` (pyace with an active set gives per-atom gamma) and report
    stability: the largest extrapolation grade seen, and whether (and why) the run halted early.

    The run halts when the largest per-atom gamma exceeds ``gamma_halt``, an energy or force is not
    finite, or the temperature exceeds ``max_temperature_factor`` times the target (as LAMMPS's
    guard in the exploration does). ``friction`` in 1/fs. Velocities and the thermostat noise come from ``seed``.

    With ``swap_every`` > 0 and two or more species, every ``swap_every`` steps ``swap_attempts``
    Monte Carlo swaps of two atoms of different species are tried (Metropolis at
    ``swap_temperature``, default the MD temperature), as LAMMPS's ``fix atom/swap`` does: the two
    atoms exchange positions and keep their momenta, so the kinetic energy is unchanged.
    """
    rng = np.random.default_rng(seed)
    system = atoms.copy()
    system.calc = calculator
    system.set_constraint(FixCom())
    MaxwellBoltzmannDistribution(system, temperature_K=temperature, rng=rng)
    Stationary(system)
    dynamics = Langevin(
        system,
        timestep_fs * units.fs,
        temperature_K=temperature,
        friction=friction / units.fs,
        fixcm=False,
        rng=rng,
        logfile=None,
    )
    state = {'max_gamma': 0.0, 'reason': None, 'step': 0}

    def observe():
        results = system.calc.results
        gamma = results.get('gamma')
        if gamma is not None and len(gamma):
            state['max_gamma'] = max(state['max_gamma'], float(np.max(gamma)))
        energy = results.get('energy', float('nan'))
        forces = results.get('forces')
        if not math.isfinite(energy) or (forces is not None and not np.all(np.isfinite(forces))):
            state['reason'] = 'energy or forces not finite'
        elif state['max_gamma'] > gamma_halt:
            state['reason'] = f'gamma {state["max_gamma"]:.2f} > {gamma_halt:g}'
        elif system.get_temperature() > max_temperature_factor * temperature:
            state['reason'] = f'temperature {system.get_temperature():.0f} K > {max_temperature_factor:g} x target'

    swaps = {'attempted': 0, 'accepted': 0}
    symbols = np.array(system.get_chemical_symbols())
    swapping = swap_every > 0 and swap_attempts > 0 and len(set(symbols)) > 1
    kt = units.kB * (swap_temperature or temperature)

    def try_swaps():
        energy = system.get_potential_energy()
        for _ in range(swap_attempts):
            first = int(rng.integers(len(system)))
            others = np.flatnonzero(symbols != symbols[first])
            second = int(others[rng.integers(len(others))])
            positions = system.get_positions()
            swapped = positions.copy()
            swapped[[first, second]] = positions[[second, first]]
            system.set_positions(swapped, apply_constraint=False)
            trial = system.get_potential_energy()
            swaps['attempted'] += 1
            if math.isfinite(trial) and (trial <= energy or rng.random() < math.exp(-(trial - energy) / kt)):
                swaps['accepted'] += 1
                energy = trial
            else:
                system.set_positions(positions, apply_constraint=False)

    system.get_potential_energy()
    observe()
    while state['reason'] is None and state['step'] < steps:
        dynamics.run(1)
        state['step'] += 1
        observe()
        if swapping and state['reason'] is None and state['step'] % swap_every == 0:
            try_swaps()
    temperatures = system.get_temperature()
    return {
        'temperature': float(temperature),
        'steps': int(steps),
        'steps_run': int(state['step']),
        'time_ps': state['step'] * timestep_fs / 1000,
        'timestep_fs': float(timestep_fs),
        'atoms': len(system),
        'max_gamma': state['max_gamma'],
        'halted': state['reason'] is not None,
        'reason': state['reason'] or '',
        'final_temperature': float(temperatures),
        'swaps': {'every': int(swap_every), 'attempts': int(swap_attempts), **swaps} if swapping else None,
    }
