"""Pure writers of the LAMMPS inputs of an extrapolation-grade MD run (no AiiDA here).

The run uses ``pair_style pace/extrapolation`` (the B-basis ``.yaml`` plus the active set ``.asi``),
computes the per-atom extrapolation grade gamma every ``gamma_every`` steps with ``fix pair``
(the other steps run as plain ``pace``), reduces it to the largest gamma of the cell, dumps whole
frames whose largest gamma reaches ``gamma_lower``, and halts the run cleanly (``fix halt ... error
soft``) when it exceeds ``gamma_upper`` or when a guard for what gamma misses trips: an extreme
pressure, two atoms closer than ``min_distance``, lost atoms, or an exploded temperature. After the
run the last frame is written, so the configuration that halted the run is kept.

With ``swap_every`` the MD is hybrid MD/Monte Carlo: every ``swap_every`` steps ``fix atom/swap``
(LAMMPS MC package) tries ``swap_attempts`` exchanges of two atoms of different elements, one fix
per pair of elements present in the cell, accepted by the Metropolis rule at ``swap_temperature``.
Plain MD keeps the chemical order of its starting cell; the swaps let the alloy order or disorder
as it would at that temperature, so the exploration reaches the arrangements the potential meets in use.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Files of a run (inside the calculation folder).
DATA_NAME = 'structure.data'
INPUT_NAME = 'md.in'
LOG_NAME = 'log.lammps'
SERIES_NAME = 'gamma.dat'
DUMP_NAME = 'frames.dump'
FINAL_DUMP_NAME = 'final.dump'
#: Columns of :data:`SERIES_NAME`, in order.
SERIES_COLUMNS = ('step', 'temp', 'pe', 'press', 'vol', 'atoms', 'max_gamma', 'n_close')
#: ``fix halt`` ids, mapped to the reason reported when one of them stops the run.
HALT_REASONS = {
    'halt_gamma': 'gamma_upper',
    'halt_pressure': 'pressure',
    'halt_distance': 'short_distance',
    'halt_atoms': 'lost_atoms',
    'halt_temperature': 'temperature',
}
BAR_PER_GPA = 1.0e4


class MdParameters(BaseModel):
    """Parameters of one MD run with the extrapolation grade (units: K, GPa, fs, A)."""

    model_config = ConfigDict(extra='forbid')

    ensemble: Literal['nvt', 'npt'] = Field('nvt', description='`nvt` (Nose-Hoover) or `npt` (isotropic barostat).')
    temperature: float = Field(gt=0, le=20000, description='Target temperature (K); also the initial velocities.')
    pressure_gpa: float = Field(0.0, ge=-50, le=500, description='Target pressure of `npt` (GPa).')
    steps: int = Field(ge=1, le=100_000_000, description='MD steps; a multiple of `gamma_every`.')
    timestep_fs: float = Field(1.0, gt=0, le=10, description='Time step (fs).')
    gamma_lower: float = Field(gt=0, description='Frames whose largest gamma reaches this are dumped.')
    gamma_upper: float = Field(gt=0, description='The run halts when the largest gamma exceeds this.')
    gamma_every: int = Field(10, ge=1, description='Steps between gamma evaluations, guards and series rows.')
    dump_every: int = Field(50, ge=1, description='Steps between candidate dumps; a multiple of `gamma_every`.')
    seed: int = Field(12345, ge=1, le=900_000_000, description='Seed of the initial velocities.')
    thermostat_damping_steps: float = Field(100.0, gt=0, description='Thermostat damping in time steps.')
    barostat_damping_steps: float = Field(1000.0, gt=0, description='Barostat damping in time steps.')
    max_pressure_gpa: float = Field(100.0, gt=0, description='Halt when |P - P_target| exceeds this (GPa).')
    min_distance: float = Field(1.2, gt=0, le=5, description='Halt when two atoms come closer than this (A).')
    max_temperature_factor: float = Field(3.0, gt=1, description='Halt when T exceeds this times the target.')
    barostat: Literal['iso', 'aniso', 'tri'] = Field(
        'iso',
        description='`npt` cell control: `iso` (shape kept), `aniso` (three lengths) or `tri` (lengths and angles).',
    )
    swap_every: int = Field(0, ge=0, description='Steps between Monte Carlo atom-swap attempts; 0: no swaps.')
    swap_attempts: int = Field(10, ge=1, description='Swaps tried every `swap_every` steps, per pair of elements.')
    swap_temperature: float | None = Field(
        None, gt=0, le=20000, description='Temperature (K) of the swap acceptance; default: `temperature`.'
    )

    @model_validator(mode='after')
    def _consistent(self):
        if self.gamma_upper <= self.gamma_lower:
            raise ValueError(f'gamma_upper ({self.gamma_upper}) must exceed gamma_lower ({self.gamma_lower})')
        if self.dump_every % self.gamma_every:
            raise ValueError(f'dump_every ({self.dump_every}) must be a multiple of gamma_every ({self.gamma_every})')
        if self.steps % self.gamma_every:
            raise ValueError(f'steps ({self.steps}) must be a multiple of gamma_every ({self.gamma_every})')
        return self


def lammps_cell(atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(cell, positions)`` of ``atoms`` in LAMMPS's restricted triclinic form.

    The cell is rotated to lower-triangular form (a along x, b in the xy plane), its lattice basis
    reduced so that the tilts lie within half a box length (same lattice, so the same crystal), and
    the positions are rotated and wrapped into it. A left-handed basis is made right-handed by
    flipping c.
    """
    cell = atoms.cell.array.copy()
    if np.linalg.det(cell) < 0:
        cell[2] *= -1
    cell_form, rotation = atoms.cell.new(cell).standard_form()
    cell_form = np.array(cell_form)
    cell_form[np.abs(cell_form) < 1e-12] = 0.0
    a, b, c = cell_form
    # reduce c by b, then c and b by a (LAMMPS: |xy| <= lx/2, |xz| <= lx/2, |yz| <= ly/2)
    shift = round(c[1] / b[1])
    c = c - shift * b
    c = c - round(c[0] / a[0]) * a
    b = b - round(b[0] / a[0]) * a
    cell_form = np.array([a, b, c])
    positions = atoms.positions @ rotation.T
    fractional = np.linalg.solve(cell_form.T, positions.T).T
    fractional = np.mod(np.round(fractional, 10), 1.0)
    return cell_form, fractional @ cell_form


def write_data_file(atoms: Atoms, species: list[str]) -> str:
    """Return a LAMMPS ``atomic`` data file of ``atoms``; atom type ``i + 1`` is ``species[i]``."""
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(species))
    if unknown:
        raise ValueError(f'the structure contains {unknown}, which the potential ({species}) does not describe')
    cell, positions = lammps_cell(atoms)
    types = [species.index(symbol) + 1 for symbol in atoms.get_chemical_symbols()]
    lines = [
        f'# {atoms.get_chemical_formula()} written by aiida-mlip-autopipe',
        '',
        f'{len(atoms)} atoms',
        f'{len(species)} atom types',
        '',
        f'0.0 {cell[0, 0]:.12f} xlo xhi',
        f'0.0 {cell[1, 1]:.12f} ylo yhi',
        f'0.0 {cell[2, 2]:.12f} zlo zhi',
        f'{cell[1, 0]:.12f} {cell[2, 0]:.12f} {cell[2, 1]:.12f} xy xz yz',
        '',
        'Masses',
        '',
    ]
    lines += [f'{i + 1} {atomic_masses[atomic_numbers[symbol]]:.6f}  # {symbol}' for i, symbol in enumerate(species)]
    lines += ['', 'Atoms  # atomic', '']
    lines += [f'{i + 1} {t} {x:.12f} {y:.12f} {z:.12f}' for i, (t, (x, y, z)) in enumerate(zip(types, positions))]
    return '\n'.join(lines) + '\n'


def pair_species(pair_lines: list[str]) -> list[str]:
    """Return the element of each atom type from the ``pair_coeff * * <files> El1 El2 ...`` line."""
    for line in pair_lines:
        tokens = line.split()
        if tokens[:3] == ['pair_coeff', '*', '*']:
            species = [token for token in tokens[3:] if token in atomic_numbers]
            if species:
                return species
    raise ValueError(f'no `pair_coeff * * ... <elements>` line in {pair_lines}')


def swap_lines(parameters: MdParameters, types_present: list[int]) -> list[str]:
    """Return the ``fix atom/swap`` lines: one per pair of atom types present (LAMMPS swaps two types per fix).

    None when ``swap_every`` is 0 or fewer than two types are present. Kinetic energy is kept on a
    swap (velocities scaled by the mass ratio), so the thermostat sees no jump.
    """
    p = parameters
    types = sorted(set(types_present))
    if not p.swap_every or len(types) < 2:
        return []
    temperature = p.swap_temperature or p.temperature
    lines = []
    for index, (first, second) in enumerate(itertools.combinations(types, 2)):
        lines.append(
            f'fix swap_{first}_{second} all atom/swap {p.swap_every} {p.swap_attempts} {p.seed + 7 * index + 1} '
            f'{temperature:g} ke yes types {first} {second}'
        )
    return lines


def write_md_input(
    parameters: MdParameters, pair_lines: list[str], n_atoms: int, types_present: list[int] | None = None
) -> str:
    """Return the LAMMPS input script of one extrapolation-grade MD run.

    ``pair_lines`` are the ``pair_style pace/extrapolation`` and ``pair_coeff`` lines of the
    potential; ``n_atoms`` is the atom count of the data file (for the lost-atoms guard);
    ``types_present`` the atom types in it (the pairs atom swaps exchange; none when not given).
    """
    p = parameters
    if not any(line.split()[:2] == ['pair_style', 'pace/extrapolation'] for line in pair_lines):
        raise ValueError(f'the pair lines must use `pair_style pace/extrapolation`, got {pair_lines}')
    every = p.gamma_every
    dt_ps = p.timestep_fs / 1000.0
    t_damp = p.thermostat_damping_steps * dt_ps
    p_target = p.pressure_gpa * BAR_PER_GPA
    max_dp = p.max_pressure_gpa * BAR_PER_GPA
    t_max = p.max_temperature_factor * p.temperature
    if p.ensemble == 'npt':
        p_damp = p.barostat_damping_steps * dt_ps
        integrator = (
            f'fix md all npt temp {p.temperature:g} {p.temperature:g} {t_damp:g} '
            f'{p.barostat} {p_target:g} {p_target:g} {p_damp:g}'
        )
    else:
        integrator = f'fix md all nvt temp {p.temperature:g} {p.temperature:g} {t_damp:g}'
    columns = ' '.join(f'${{{name}}}' for name in SERIES_COLUMNS)
    swaps = swap_lines(p, types_present or [])
    swap_ids = [line.split()[1] for line in swaps]
    swap_report = []
    if swaps:
        attempted = '+'.join(f'f_{fix}[1]' for fix in swap_ids)
        accepted = '+'.join(f'f_{fix}[2]' for fix in swap_ids)
        swap_report = [
            f'variable swaps_attempted equal {attempted}',
            f'variable swaps_accepted equal {accepted}',
            'print "MLIP_AUTOPIPE_SWAPS attempted ${swaps_attempted} accepted ${swaps_accepted}"',
        ]
    lines = [
        '# extrapolation-grade MD written by aiida-mlip-autopipe',
        'units metal',
        'atom_style atomic',
        'boundary p p p',
        f'read_data {DATA_NAME}',
        *pair_lines,
        'neighbor 1.0 bin',
        'neigh_modify every 1 delay 0 check yes',
        f'timestep {dt_ps:g}',
        '',
        '# extrapolation grade: per-atom gamma every N steps (plain pace on the other steps)',
        f'fix gamma all pair {every} pace/extrapolation gamma 1',
        'compute max_gamma all reduce max f_gamma',
        f'compute close all coord/atom cutoff {p.min_distance:g}',
        'compute n_close_atom all reduce max c_close',
        'variable step equal step',
        'variable temp equal temp',
        'variable pe equal pe',
        'variable press equal press',
        'variable vol equal vol',
        'variable atoms equal atoms',
        'variable max_gamma equal c_max_gamma',
        'variable n_close equal c_n_close_atom',
        f'variable pressure_excess equal abs(press-({p_target:g}))',
        f'variable dump_skip equal "c_max_gamma < {p.gamma_lower:g}"',
        '',
        f'velocity all create {p.temperature:g} {p.seed} dist gaussian mom yes rot yes',
        integrator,
        *swaps,
        f'thermo {every}',
        'thermo_style custom step temp pe press vol atoms c_max_gamma',
        'thermo_modify lost warn norm no flush yes',
        f'fix series all print {every} "{columns}" file {SERIES_NAME} screen no title "# {" ".join(SERIES_COLUMNS)}"',
        f'dump frames all custom {p.dump_every} {DUMP_NAME} id type x y z f_gamma',
        'dump_modify frames skip v_dump_skip sort id format float %.10g',
        '',
        '# halts: a clean stop (exit 0); the last frame is written after the run',
        f'fix halt_gamma all halt {every} v_max_gamma > {p.gamma_upper:g} error soft',
        f'fix halt_pressure all halt {every} v_pressure_excess > {max_dp:g} error soft',
        f'fix halt_distance all halt {every} v_n_close > 0 error soft',
        f'fix halt_atoms all halt {every} v_atoms < {n_atoms} error soft',
        f'fix halt_temperature all halt {every} v_temp > {t_max:g} error soft',
        '',
        f'run {p.steps}',
        f'write_dump all custom {FINAL_DUMP_NAME} id type x y z f_gamma modify sort id format float %.10g',
        *swap_report,
        'print "MLIP_AUTOPIPE_DONE step ${step}"',
    ]
    return '\n'.join(lines) + '\n'


def check_finite_cell(atoms: Atoms) -> str | None:
    """Return why ``atoms`` cannot start an MD run (non-periodic, degenerate cell), or ``None``."""
    if not all(atoms.pbc):
        return 'the cell must be periodic in all three directions'
    volume = abs(float(np.linalg.det(atoms.cell.array)))
    if not math.isfinite(volume) or volume < 1e-3:
        return f'the cell volume ({volume:.3g} A^3) is degenerate'
    return None


def check_starting_structure(atoms: Atoms, elements=None) -> str | None:
    """Return why ``atoms`` cannot start an MD run with a potential of ``elements`` (None: not known yet), or ``None``.

    The potential must describe every element of ``atoms``, and the cell must be periodic and not
    degenerate (:func:`check_finite_cell`).
    """
    if elements is not None:
        symbols = sorted(set(atoms.get_chemical_symbols()) - set(elements))
        if symbols:
            return f'elements {symbols} are not described by the potential {list(elements)}'
    return check_finite_cell(atoms)
