"""Real ``lmp`` with ML-PACE and the Cu-Au fixture potential, run through aiida-lammps' ``lammps.raw``:
in-domain MD, a run driven out of domain, the exploration work chain end to end, and the style check."""

from __future__ import annotations

import re

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node

from aiida_mlip_autopipe.exploration.functions import trajectory_frames
from aiida_mlip_autopipe.exploration.lammps import check_lammps
from aiida_mlip_autopipe.exploration.md import LammpsMdWorkChain
from aiida_mlip_autopipe.exploration.selection import choose_frames
from aiida_mlip_autopipe.exploration.workchain import ExplorationWorkChain

from .conftest import cuau_cell

GAMMA = {'gamma_lower': 1.5, 'gamma_upper': 5.0}


def _run_md(code, potential, atoms, **parameters):
    builder = LammpsMdWorkChain.get_builder()
    builder.code = code
    builder.potential = potential
    builder.structure = orm.StructureData(ase=atoms)
    builder.parameters = orm.Dict({**GAMMA, 'seed': 11, **parameters})
    return run_get_node(builder)


def test_check_lammps(lmp_executable, tmp_path):
    check_lammps(lmp_executable)
    fake = tmp_path / 'lmp'
    fake.write_text('#!/bin/sh\nprintf "* Pair styles:\\n\\nlj/cut  pace\\n\\n* Fix styles\\n\\nnvt\\n"\n')
    fake.chmod(0o755)
    with pytest.raises(RuntimeError, match='pair_style pace/extrapolation'):
        check_lammps(str(fake))


def test_moderate_temperature_stays_in_domain(lmp_code, cuau_potential):
    """300 K NPT of a Cu-Au cell like the training cells: completes, gamma stays low, few candidates."""
    results, node = _run_md(
        lmp_code, cuau_potential, cuau_cell(0.25), ensemble='npt', temperature=300, steps=1000, timestep_fs=2
    )
    assert node.is_finished_ok, node.exit_message
    report = results['report'].get_dict()
    assert report['completed'] and not report['halted'] and report['halt_reason'] is None
    assert report['steps_done'] == 1000 and report['samples'] == 101
    assert report['max_gamma'] < GAMMA['gamma_upper']
    assert report['fraction_above_lower'] <= 0.25
    assert report['fraction_above_upper'] == 0
    assert report['frames_dumped'] <= 5  # of 21 dump steps
    assert 150 < report['mean_temperature'] < 450
    assert not report['exploded'] and not report['lost_atoms']
    series = results['series']
    assert np.array_equal(series.get_array('step'), np.arange(0, 1001, 10))
    assert np.all(series.get_array('max_gamma') > 0)


def test_swaps_reorder_the_alloy_and_keep_its_composition(lmp_code, cuau_potential):
    """Hybrid MD/MC: the swaps LAMMPS reports are the ones asked for, some are accepted, the composition stays
    and the final arrangement differs from the starting one."""
    atoms = cuau_cell(0.25, seed=3)
    results, node = _run_md(
        lmp_code,
        cuau_potential,
        atoms,
        temperature=300,
        steps=200,
        timestep_fs=1,
        swap_every=10,
        swap_attempts=5,
        gamma_lower=0.01,  # every dump step is a candidate frame
        dump_every=50,
    )
    assert node.is_finished_ok, node.exit_message
    report = results['report'].get_dict()
    assert not report['halted'], report
    assert report['swaps_attempted'] == 5 * 200 // 10
    assert 0 < report['swaps_accepted'] <= report['swaps_attempted']
    final = results['final_structure'].get_ase()
    assert sorted(final.get_chemical_symbols()) == sorted(atoms.get_chemical_symbols())
    # LAMMPS keeps atom ids: the same ids carry other elements after accepted swaps
    assert final.get_chemical_symbols() != atoms.get_chemical_symbols()
    # every dumped frame is a candidate, each with its own elements (swaps change them along the run)
    candidates = trajectory_frames(results['candidates'])
    assert [frame.info['step'] for frame in candidates] == [0, 50, 100, 150, 200]
    assert candidates[0].get_chemical_symbols() == atoms.get_chemical_symbols()
    assert candidates[-1].get_chemical_symbols() == final.get_chemical_symbols()


def test_far_outside_the_domain_halts_cleanly_with_frames(lmp_code, cuau_potential):
    """900 K is far beyond the cold, slightly rattled cells the fixture was fitted on: gamma passes the
    upper threshold, the run halts cleanly (exit 0) and the halting frame is kept."""
    atoms = cuau_cell(0.25)
    results, node = _run_md(lmp_code, cuau_potential, atoms, temperature=900, steps=2000, timestep_fs=2, dump_every=10)
    assert node.is_finished_ok, node.exit_message
    report = results['report'].get_dict()
    assert report['halted'] and report['halt_reason'] == 'gamma_upper'
    assert report['steps_done'] == report['halt_step'] < 2000
    assert report['halt_value'] > GAMMA['gamma_upper']
    candidates = results['candidates']
    gamma = candidates.get_array('gamma')
    assert gamma.shape == (len(candidates.get_stepids()), len(atoms))
    assert gamma.max(axis=1).min() >= GAMMA['gamma_lower']
    assert candidates.get_stepids()[-1] == report['halt_step']
    assert gamma[-1].max() == pytest.approx(report['halt_value'], rel=1e-6)
    assert 'final_structure' in results


def test_exploration_work_chain_selects_structures_to_label(lmp_code, python_code, cuau_potential, tmp_path):
    builder = ExplorationWorkChain.get_builder()
    builder.code = lmp_code
    builder.python_code = python_code
    builder.potential = cuau_potential
    builder.structures = {
        'cu3au': orm.StructureData(ase=cuau_cell(0.25)),
        'cuau': orm.StructureData(ase=cuau_cell(0.5)),
    }
    builder.schedule = orm.Dict({'ensemble': 'npt', 'temperatures': [300, 2500], 'steps': 1000, 'timestep_fs': 2.0})
    builder.gamma_lower = orm.Float(1.5)
    builder.gamma_upper = orm.Float(5.0)
    builder.max_selected = orm.Int(3)
    builder.seed = orm.Int(5)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    report = results['report'].get_dict()
    assert report['runs_total'] == 4 and report['runs_failed'] == 0
    assert set(report['runs']) == {'run_000', 'run_001', 'run_002', 'run_003'}
    cold = [run for run in report['runs'].values() if run['temperature'] == 300]
    assert all(not run['halted'] and run['max_gamma'] < 5.0 for run in cold)
    structures = results['structures']
    assert 1 <= len(structures) <= 3
    assert report['selected'] == len(structures)
    for key, structure in structures.items():
        assert re.fullmatch(r'run_\d{3}_step\d{8}', key)
        assert report['selection']['selected'][key]['max_gamma'] >= 1.5
        assert len(structure.sites) == 32
    assert 0 < report['high_gamma_fraction'] < 1
    # the selection ran as a job with the plugin's Python; here, on its inputs, it selects the same frames
    (selection,) = [child for child in node.called if child.process_label == 'PythonTaskCalculation']
    assert selection.base.links.get_incoming(link_type=LinkType.CALL_CALC).one().link_label == 'select_structures'
    runs = {label: trajectory_frames(trajectory) for label, trajectory in selection.inputs.trajectories.items()}
    assert sorted(runs) == sorted(report['runs'])  # every run left candidate frames
    files = cuau_potential.write_files(tmp_path)
    again, again_report = choose_frames(runs, selection.inputs.parameters.get_dict(), files)
    assert sorted(again) == sorted(structures)
    assert again_report == report['selection']


def test_large_cells_are_labelled_as_fragments_around_their_highest_gamma(lmp_code, python_code, cuau_potential):
    """A 108-atom cell (a Cu3Au cube repeated 3x3x3) explored hot, with `label_atoms`: what is selected are 8-atom
    periodic fragments, each around the atom of largest gamma of its frame as the MD run dumped it."""
    builder = ExplorationWorkChain.get_builder()
    builder.code = lmp_code
    builder.python_code = python_code
    builder.potential = cuau_potential
    builder.structures = {'cu3au': orm.StructureData(ase=cuau_cell(0.25, repeat=(1, 1, 1)).repeat((3, 3, 3)))}
    builder.schedule = orm.Dict({'ensemble': 'npt', 'temperatures': [2500], 'steps': 1000, 'timestep_fs': 2.0})
    builder.gamma_lower = orm.Float(1.5)
    builder.gamma_upper = orm.Float(5.0)
    builder.max_selected = orm.Int(3)
    builder.selection = orm.Dict({'label_atoms': 8, 'label_above_upper': True})
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    (run,) = [child for child in node.called if child.process_label == 'LammpsMdWorkChain']
    candidates = run.outputs.candidates
    assert candidates.get_array('repeats').tolist() == [3, 3, 3]
    selected = results['report']['selection']['selected']
    assert 1 <= len(results['structures']) <= 3
    for key, structure in results['structures'].items():
        assert re.fullmatch(r'run_000_step\d{8}_atom\d{5}', key)
        assert len(structure.sites) == 8
        fragment = selected[key]['fragment']
        assert fragment['frame_atoms'] == 108 and fragment['blocks'] == [2, 1, 1]
        frame = list(candidates.get_stepids()).index(int(key.split('_step')[1][:8]))
        gamma = candidates.get_array('gamma')[frame]
        assert fragment['centre_gamma'] == pytest.approx(gamma[fragment['centre']]) and gamma[fragment['centre']] >= 1.5
