"""The LAMMPS input writer: data file geometry, input script, parameter validation."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.geometry import get_distances
from pydantic import ValidationError

from aiida_mlip_autopipe.exploration.inputs import (
    MdParameters,
    lammps_cell,
    pair_species,
    write_data_file,
    write_md_input,
)

PAIR = ['pair_style pace/extrapolation', 'pair_coeff * * potential.yaml potential.asi Au Cu']


def _sorted_distances(cell, positions):
    _, d = get_distances(positions, cell=cell, pbc=True)
    return np.sort(d.ravel())


@pytest.mark.parametrize(
    'atoms',
    [
        bulk('Cu', 'fcc', a=3.6).repeat((2, 3, 2)),
        bulk('Au', 'hcp', a=2.9, c=4.7).repeat(2),
        Atoms(
            'CuAu', positions=[[0, 0, 0], [1.2, 1.1, 0.9]], cell=[[3, 0, 0], [2.9, 3, 0], [-2.8, 1.7, 3.1]], pbc=True
        ),
        Atoms('CuAu', positions=[[0, 0, 0], [1, 1, 1]], cell=[[3, 0, 0], [0, 0, 3], [0, 3, 0]], pbc=True),
    ],
    ids=['fcc-primitive', 'hcp', 'skewed', 'left-handed'],
)
def test_lammps_cell_keeps_the_crystal(atoms):
    """Rotated, reduced and wrapped: same volume, same distances, tilts within LAMMPS's limits."""
    cell, positions = lammps_cell(atoms)
    assert cell[0, 1] == cell[0, 2] == cell[1, 2] == 0
    assert cell[0, 0] > 0 and cell[1, 1] > 0 and cell[2, 2] > 0
    assert abs(cell[1, 0]) <= cell[0, 0] / 2 + 1e-9
    assert abs(cell[2, 0]) <= cell[0, 0] / 2 + 1e-9
    assert abs(cell[2, 1]) <= cell[1, 1] / 2 + 1e-9
    assert np.isclose(np.linalg.det(cell), abs(atoms.cell.volume))
    fractional = np.linalg.solve(cell.T, positions.T).T
    assert fractional.min() >= 0 and fractional.max() < 1
    assert np.allclose(_sorted_distances(cell, positions), _sorted_distances(atoms.cell, atoms.positions), atol=1e-8)


def test_data_file_types_follow_the_pair_coeff_elements():
    atoms = bulk('Cu', 'fcc', a=3.6, cubic=True)
    atoms.symbols[0] = 'Au'
    species = pair_species(PAIR)
    assert species == ['Au', 'Cu']
    text = write_data_file(atoms, species)
    rows = text.split('Atoms  # atomic')[1].split()
    types = [int(rows[i]) for i in range(1, len(rows), 5)]
    assert types == [1, 2, 2, 2]
    assert '1 196.966569  # Au' in text and '2 63.546000  # Cu' in text
    with pytest.raises(ValueError, match='Ni'):
        write_data_file(bulk('Ni', 'fcc', a=3.5), species)


def test_swaps_one_fix_per_pair_of_types_present():
    """Monte Carlo swaps: one `fix atom/swap` per pair of types in the cell, none for one type or when off."""
    parameters = MdParameters(
        temperature=800, steps=100, gamma_lower=2, gamma_upper=8, seed=5, swap_every=20, swap_attempts=4
    )
    pair = ['pair_style pace/extrapolation', 'pair_coeff * * potential.yaml potential.asi Ag Au Cu']
    lines = write_md_input(parameters, pair, 32, [1, 2, 3]).splitlines()
    swaps = [line for line in lines if ' atom/swap ' in line]
    assert [line.split('types')[1].split() for line in swaps] == [['1', '2'], ['1', '3'], ['2', '3']]
    assert all(line.split()[4:6] == ['20', '4'] and ' 800 ke yes ' in line for line in swaps)
    assert len({line.split()[6] for line in swaps}) == 3  # a seed of its own per fix
    assert 'variable swaps_attempted equal f_swap_1_2[1]+f_swap_1_3[1]+f_swap_2_3[1]' in lines
    hot = parameters.model_copy(update={'swap_temperature': 1500.0})
    assert ' 1500 ke yes types 1 2' in write_md_input(hot, pair, 32, [1, 2])
    assert ' atom/swap ' not in write_md_input(parameters, pair, 32, [2])
    assert ' atom/swap ' not in write_md_input(parameters.model_copy(update={'swap_every': 0}), pair, 32, [1, 2])


def test_barostat_sets_the_cell_degrees_of_freedom():
    parameters = MdParameters(ensemble='npt', temperature=300, steps=100, gamma_lower=2, gamma_upper=8, barostat='tri')
    assert 'fix md all npt temp 300 300 0.1 tri 0 0 1' in write_md_input(parameters, PAIR, 4).splitlines()


def test_md_input_has_gamma_dump_halts_and_guards():
    parameters = MdParameters(
        ensemble='npt', temperature=900, pressure_gpa=2.5, steps=500, gamma_lower=2, gamma_upper=8, seed=7
    )
    text = write_md_input(parameters, PAIR, 32)
    lines = text.splitlines()
    assert 'fix gamma all pair 10 pace/extrapolation gamma 1' in lines
    assert 'compute max_gamma all reduce max f_gamma' in lines
    assert 'variable dump_skip equal "c_max_gamma < 2"' in lines
    assert 'dump_modify frames skip v_dump_skip sort id format float %.10g' in lines
    assert 'fix halt_gamma all halt 10 v_max_gamma > 8 error soft' in lines
    assert 'fix halt_atoms all halt 10 v_atoms < 32 error soft' in lines
    assert 'fix halt_temperature all halt 10 v_temp > 2700 error soft' in lines
    assert 'fix md all npt temp 900 900 0.1 iso 25000 25000 1' in lines
    assert 'velocity all create 900 7 dist gaussian mom yes rot yes' in lines
    # the last frame is written after the run, so a halted run keeps it
    assert lines.index('run 500') < next(i for i, line in enumerate(lines) if line.startswith('write_dump'))
    with pytest.raises(ValueError, match='pace/extrapolation'):
        write_md_input(parameters, ['pair_style pace', 'pair_coeff * * potential.yace Au Cu'], 32)


@pytest.mark.parametrize(
    ('changes', 'message'),
    [
        ({'gamma_upper': 1.0}, 'gamma_upper'),
        ({'steps': 105}, 'multiple of gamma_every'),
        ({'dump_every': 15}, 'multiple of gamma_every'),
        ({'ensemble': 'nve'}, 'ensemble'),
        ({'temperature': -5}, 'temperature'),
        ({'thermostat': 1}, 'thermostat'),
    ],
)
def test_md_parameters_refuse_bad_values_naming_the_field(changes, message):
    values = {'temperature': 300, 'steps': 100, 'gamma_lower': 1.5, 'gamma_upper': 5.0, **changes}
    with pytest.raises(ValidationError, match=message):
        MdParameters(**values)
