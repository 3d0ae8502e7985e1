"""The benchmark's linear ACE model: design rows, ridge fits, the potential written for LAMMPS, selection rules."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_mlip_autopipe.benchmark import linear, pool, strategies


@pytest.fixture(scope='module')
def frames():
    rng = np.random.default_rng(5)
    out = pool.typical_frames(('Cu', 'Au'), (600.0,), 3, rng, every=5, skip=10, compositions=(0.25, 0.5, 0.75))
    return out + pool.plant_duplicates(out, [0, 4], rng)


@pytest.fixture(scope='module')
def basis():
    return linear.linear_basis(('Cu', 'Au'), 6)


@pytest.fixture(scope='module')
def design(basis, frames):
    return linear.compute_design(basis, frames)


def test_written_potential_gives_pyace_the_fitted_energies_and_forces(basis, design, frames, tmp_path):
    from pyace import PyACECalculator
    from pyace.basis import BBasisConfiguration

    scale = linear.frame_scale(design, 1.0)
    fit = linear.RidgeFit(design, 1.0, 1e-6, scale)
    fit.add(range(design.size))
    coefficients = fit.solve()
    training_error = np.sqrt(np.mean((design.force_rows @ coefficients - design.forces) ** 2))
    start = linear.RidgeFit(design, 1.0, 1e-6, scale)
    start.add([0, 1])
    assert training_error < np.sqrt(np.mean((design.force_rows @ start.solve() - design.forces) ** 2))
    yaml_path, asi_path = linear.write_potential(basis, coefficients, linear.active_set(design, range(6)), tmp_path)
    calculator = PyACECalculator(BBasisConfiguration(str(yaml_path)))
    calculator.set_active_set(str(asi_path))
    for index in (0, 7):
        atoms = frames[index].copy()
        atoms.calc = calculator
        assert atoms.get_potential_energy() == pytest.approx(design.energy_rows[index] @ coefficients, abs=1e-8)
        assert atoms.get_forces().ravel() == pytest.approx(
            design.force_rows[design.frame_forces(index)] @ coefficients, abs=1e-8
        )
    # the active set of frames 0-5 covers them (gamma <= MaxVol's tolerance) and not every other frame
    atoms = frames[2].copy()
    atoms.calc = calculator
    atoms.get_potential_energy()
    assert calculator.results['gamma'].max() <= linear.MAXVOL_TOLERANCE + 1e-9


def test_written_potential_runs_in_lammps_with_the_same_energy(basis, design, frames, tmp_path):
    import subprocess

    from aiida_mlip_autopipe.exploration.inputs import write_data_file
    from aiida_mlip_autopipe.setup import default_executable

    fit = linear.RidgeFit(design, 1.0, 1e-6, linear.frame_scale(design, 1.0))
    fit.add(range(design.size))
    coefficients = fit.solve()
    yaml_path, asi_path = linear.write_potential(basis, coefficients, linear.active_set(design, range(6)), tmp_path)
    species = linear.basis_elements(basis)
    (tmp_path / 'structure.data').write_text(write_data_file(frames[3], species))
    (tmp_path / 'in.lmp').write_text(
        '\n'.join(
            [
                'units metal',
                'atom_style atomic',
                'boundary p p p',
                'read_data structure.data',
                'pair_style pace/extrapolation',
                f'pair_coeff * * {yaml_path} {asi_path} {" ".join(species)}',
                'thermo_style custom step pe',
                'thermo_modify format float %.10f',
                'run 0',
                'print "PE $(pe:%.10f)"',
            ]
        )
    )
    process = subprocess.run(
        [default_executable('lmp'), '-in', 'in.lmp', '-screen', 'none', '-log', 'log.lammps'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    energy = float(
        next(line.split()[1] for line in (tmp_path / 'log.lammps').read_text().splitlines() if line.startswith('PE '))
    )
    assert energy == pytest.approx(design.energy_rows[3] @ coefficients, abs=1e-6), process.stdout


def test_selection_rules_skip_what_the_active_set_holds(design, frames):
    """The last two frames are near copies of frames 0 and 4 (labelled): neither rule may take them."""
    labelled = [0, 1, 2, 3, 4, 5]
    twins = {design.size - 2, design.size - 1}
    assert [frames[i].info['twin_of'] for i in sorted(twins)] == [0, 4]
    active = linear.active_set(design, labelled)
    available = [i for i in range(design.size) if i not in labelled]
    chosen, info = strategies.maxvol_selection(design, active, available, 3)
    assert chosen and not set(chosen) & twins and len(set(chosen)) == len(chosen)
    settings = {
        'gamma_lower': 1.05,
        'gamma_upper': 1e9,
        'min_distance': 1.5,
        'label_above_upper': False,
        'max_candidates': 5000,
        'seed': 0,
    }
    distances = [2.0] * design.size
    with strategies.known_distances(frames, distances):
        chosen, info = strategies.campaign_selection(design, frames, active, range(design.size), 3, settings)
    assert chosen and not set(chosen) & {*labelled, *twins}
    assert info['below_window'] >= len(labelled) + 2  # the labelled frames and both twins are known ground
    assert (
        max(frames[i].info['max_gamma'] for i in twins) < 1.05
        and frames[0].info['max_gamma'] <= linear.MAXVOL_TOLERANCE + 1e-9
    )


def test_stratified_random_follows_the_pool_shares():
    strata = ['a'] * 60 + ['b'] * 30 + ['c'] * 10
    rng = np.random.default_rng(0)
    picked = strategies.stratified_random(strata, range(100), [], 10, rng)
    assert sorted(strata[i] for i in picked) == ['a'] * 6 + ['b'] * 3 + ['c']
    more = strategies.stratified_random(strata, [i for i in range(100) if i not in picked], picked, 10, rng)
    assert sorted(strata[i] for i in more) == ['a'] * 6 + ['b'] * 3 + ['c']
    assert len(set(picked) | set(more)) == 20
