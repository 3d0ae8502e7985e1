"""``DftLabellingWorkChain`` with the real pw.x on tiny cells."""

from __future__ import annotations

import os
import re
import subprocess

import ase.io
import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory
from ase.build import bulk

from aiida_mlip_autopipe.labelling.workchain import DftLabellingWorkChain

from .conftest import cu3au

PwCalculation = CalculationFactory('quantumespresso.pw')
FAST = {'kpoints_distance': 0.5}


def structures(**atoms):
    return {key: orm.StructureData(ase=value) for key, value in atoms.items()}


def rattled_al():
    atoms = bulk('Al', 'fcc', a=3.99).repeat((2, 1, 1))
    atoms.positions[0] += (0.05, 0.03, 0.0)
    return atoms


@pytest.fixture(scope='module')
def al_and_cu3au(pw_code, pseudo_family):
    """One labelling run of a rattled Al cell and Cu3Au, shared by the tests that inspect it."""
    return run_get_node(
        DftLabellingWorkChain,
        structures=structures(al=rattled_al(), cu3au=cu3au()),
        code=pw_code,
        protocol=orm.Str('fast'),
        overrides=orm.Dict(FAST),
    )


def test_al_and_cu3au_are_labelled(al_and_cu3au):
    results, node = al_and_cu3au
    assert node.exit_status == 0
    training_set = results['training_set']
    assert training_set.count == 2
    assert training_set.elements == ['Al', 'Au', 'Cu']
    assert results['failures'].get_dict() == {}
    al, cu3au_frame = training_set.to_atoms()  # sorted by key
    assert al.info['config_type'] == 'al' and cu3au_frame.info['config_type'] == 'cu3au'
    # the rattled atom is pushed back: the force opposes the displacement, and forces sum to zero
    assert al.get_forces()[0, 0] < -0.05
    np.testing.assert_allclose(al.get_forces().sum(axis=0), 0.0, atol=1e-3)
    # energies per atom of a pseudopotential calculation are large and negative
    assert -100 < al.get_potential_energy() / len(al) < -50
    assert cu3au_frame.get_potential_energy() < -1000


def test_label_equals_direct_pw_run(al_and_cu3au, tmp_path):
    """Energy, forces and stress of a label equal those of pw.x run by hand on the same input."""
    results, _ = al_and_cu3au
    frame = next(atoms for atoms in results['training_set'].iter_atoms() if atoms.info['config_type'] == 'cu3au')
    calculation = orm.load_node(frame.info['source_uuid'])
    assert calculation.process_type == 'aiida.calculations:quantumespresso.pw'
    (tmp_path / 'aiida.in').write_text(calculation.base.repository.get_object_content('aiida.in'))
    (tmp_path / 'pseudo').mkdir()
    for link in calculation.base.links.get_incoming(link_label_filter='pseudos__%').all():
        (tmp_path / 'pseudo' / link.node.filename).write_text(link.node.get_content())
    with open(tmp_path / 'pw.out', 'w') as handle:
        subprocess.run(
            ['pw.x', '-in', 'aiida.in'],
            cwd=tmp_path,
            stdout=handle,
            check=True,
            env=dict(os.environ, OMP_NUM_THREADS='1'),
        )
    direct = ase.io.read(tmp_path / 'pw.out', format='espresso-out')
    # aiida-quantumespresso and ASE convert from Ry/Hartree with constants that differ by ~1e-8
    assert frame.get_potential_energy() == pytest.approx(direct.get_potential_energy(), rel=1e-7)
    np.testing.assert_allclose(frame.get_forces(), direct.get_forces(), atol=1e-5)
    np.testing.assert_allclose(frame.get_stress(), direct.get_stress(), atol=1e-5)


def test_unconverged_structure_is_recorded_and_others_succeed(pw_code, pseudo_family):
    never_converges = {'max_iterations': 1, 'pw': {'parameters': {'ELECTRONS': {'electron_maxstep': 1}}}}
    results, node = run_get_node(
        DftLabellingWorkChain,
        structures=structures(al=bulk('Al', 'fcc', a=3.99), stuck=rattled_al()),
        code=pw_code,
        protocol=orm.Str('fast'),
        overrides=orm.Dict(FAST),
        structure_overrides=orm.Dict({'stuck': never_converges}),
        min_success_fraction=orm.Float(0.5),
    )
    assert node.exit_status == 0
    assert results['training_set'].count == 1
    failure = results['failures']['stuck']
    assert failure['stage'] == 'dft'
    assert failure['exit_status'] == 401  # PwBaseWorkChain: ERROR_MAXIMUM_ITERATIONS_EXCEEDED
    report = '\n'.join(log.message for log in orm.Log.collection.get_logs_for(node))
    assert '`stuck` failed' in report and 'labelled 1 of 2 structures' in report


def test_close_atoms_refused_and_success_fraction_enforced(pw_code, pseudo_family):
    crushed = bulk('Al', 'fcc', a=3.99, cubic=True)
    crushed.positions[1] = crushed.positions[0] + (0.4, 0.0, 0.0)
    before = orm.QueryBuilder().append(PwCalculation).count()
    results, node = run_get_node(
        DftLabellingWorkChain,
        structures=structures(crushed=crushed),
        code=pw_code,
        protocol=orm.Str('fast'),
        min_success_fraction=orm.Float(0.5),
    )
    assert node.exit_status == DftLabellingWorkChain.exit_codes.ERROR_TOO_FEW_LABELLED.status
    assert results['training_set'].count == 0
    assert results['failures']['crushed']['stage'] == 'refused'
    assert 'closer than the minimum distance' in results['failures']['crushed']['message']
    assert orm.QueryBuilder().append(PwCalculation).count() == before


@pytest.mark.parametrize(
    ('inputs', 'message'),
    [
        ({'structures': {'zr': bulk('Zr', 'hcp', a=3.2)}}, 'no pseudopotential for Zr; it covers Al, Au, Cu'),
        ({'protocol': 'precise'}, '`protocol`: unknown protocol `precise`; allowed: fast, balanced, stringent'),
        ({'pseudo_family': 'SSSP'}, 'pseudo family `SSSP` is not installed'),
        ({'min_success_fraction': 1.5}, '`min_success_fraction`: 1.5 is outside the allowed range'),
        ({'overrides': {'spin': 'up'}}, '`overrides.spin`: unknown value `up`; allowed: auto, none'),
        ({'structure_overrides': {'cu': {}}}, '`structure_overrides`: no structure named cu'),
    ],
)
def test_bad_input_is_refused_before_submission(pw_code, pseudo_family, inputs, message):
    kwargs = {'structures': {'al': bulk('Al', 'fcc', a=3.99)}} | inputs
    kwargs = {key: orm.to_aiida_type(value) for key, value in kwargs.items() if key != 'structures'} | {
        'structures': structures(**kwargs['structures']),
        'code': pw_code,
    }
    before = orm.QueryBuilder().append(orm.ProcessNode).count()
    with pytest.raises(ValueError, match=re.escape(message)):
        run_get_node(DftLabellingWorkChain, **kwargs)
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == before


def test_code_of_another_plugin_is_refused(localhost, pseudo_family):
    from aiida_mlip_autopipe.setup import ensure_code

    other = ensure_code('not-pw', localhost, 'core.arithmetic.add', '/bin/bash')
    with pytest.raises(ValueError, match=r'`code`: code `not-pw@localhost-test` runs `core\.arithmetic\.add`'):
        run_get_node(DftLabellingWorkChain, structures=structures(al=bulk('Al', 'fcc', a=3.99)), code=other)


def test_identical_rerun_reuses_cached_pw_calculations(pw_code, pseudo_family):
    """With caching on for pw.x (as `make setup` configures the profile), a rerun computes nothing."""
    from aiida.manage.caching import enable_caching

    inputs = {
        'structures': structures(al=bulk('Al', 'fcc', a=4.01)),
        'code': pw_code,
        'protocol': orm.Str('fast'),
        'overrides': orm.Dict(FAST),
    }
    with enable_caching(identifier='aiida.calculations:quantumespresso.pw'):
        first, _ = run_get_node(DftLabellingWorkChain, **inputs)
        inputs['structures'] = structures(al=bulk('Al', 'fcc', a=4.01))
        second, _ = run_get_node(DftLabellingWorkChain, **inputs)
    calculations = [orm.load_node(r['training_set'].to_atoms()[0].info['source_uuid']) for r in (first, second)]
    assert not calculations[0].base.caching.is_created_from_cache
    assert calculations[1].base.caching.is_created_from_cache
    assert calculations[1].base.caching.get_cache_source() == calculations[0].uuid
    energies = [r['training_set'].to_atoms()[0].get_potential_energy() for r in (first, second)]
    assert energies[0] == energies[1]


def al_vacancy():
    """Al cube with one of its four atoms removed and one neighbour pushed 0.1 A off its site."""
    atoms = bulk('Al', 'fcc', a=4.0, cubic=True)
    del atoms[0]
    atoms.positions[0] += (0.1, 0.0, 0.0)
    return atoms


def test_pw_relax_labels_the_relaxed_structure(pw_code, pseudo_family):
    """pw.x relaxes the keys in `relax`; a relaxation stopped after two ionic steps is labelled as not converged."""
    from aiida_mlip_autopipe.labelling.protocol import RELAX_FMAX

    stop_early = {'max_iterations': 1, 'pw': {'parameters': {'CONTROL': {'nstep': 2}}}}
    results, node = run_get_node(
        DftLabellingWorkChain,
        structures=structures(scf=al_vacancy(), relaxed=al_vacancy(), stopped=al_vacancy()),
        relax=orm.List(['relaxed', 'stopped']),
        structure_overrides=orm.Dict({'stopped': stop_early}),
        code=pw_code,
        protocol=orm.Str('fast'),
        overrides=orm.Dict({'kpoints_distance': 0.8}),
    )
    assert node.exit_status == 0, node.exit_message
    assert results['failures'].get_dict() == {}
    frames = {atoms.info['config_type']: atoms for atoms in results['training_set'].to_atoms()}
    scf, relaxed, stopped = frames['scf'], frames['relaxed'], frames['stopped']
    relaxations = results['relaxations'].get_dict()
    assert sorted(relaxations) == ['relaxed', 'stopped']
    assert relaxations['relaxed']['converged'] and relaxations['relaxed']['steps'] > 1
    assert not relaxations['stopped']['converged']
    # the unrelaxed label has the displaced atom pushed back; the relaxed label is the final structure
    assert np.linalg.norm(scf.get_forces(), axis=1).max() > 0.1
    assert np.linalg.norm(relaxed.get_forces(), axis=1).max() < RELAX_FMAX
    assert relaxations['relaxed']['max_force'] == pytest.approx(np.linalg.norm(relaxed.get_forces(), axis=1).max())
    assert np.abs(relaxed.positions - scf.positions).max() > 0.03
    assert relaxed.get_potential_energy() < scf.get_potential_energy() - 0.005
    np.testing.assert_allclose(relaxed.cell, scf.cell, atol=1e-8)
    # the stopped one ran two SCFs: its label holds the second positions (not pw.x's next BFGS step) with
    # their energy and forces, the same as the second step of the converged relaxation (same input)
    assert relaxations['stopped']['max_force'] > RELAX_FMAX and relaxations['stopped']['steps'] == 2
    trajectory = orm.load_node(relaxations['relaxed']['process_uuid']).outputs.output_trajectory
    np.testing.assert_allclose(stopped.positions, trajectory.get_array('positions')[1], atol=1e-6)
    np.testing.assert_allclose(stopped.get_forces(), trajectory.get_array('forces')[1], atol=1e-4)
    assert stopped.get_potential_energy() == pytest.approx(trajectory.get_array('energy')[1], abs=1e-4)
    assert np.abs(stopped.positions - scf.positions).max() > 0.005
    assert scf.get_potential_energy() > stopped.get_potential_energy() > relaxed.get_potential_energy()
    base = orm.load_node(relaxations['relaxed']['process_uuid'])
    calculation = next(child for child in base.called if isinstance(child, orm.CalcJobNode))
    pw_parameters = calculation.inputs.parameters.get_dict()['CONTROL']
    assert pw_parameters['calculation'] == 'relax'
    assert pw_parameters['forc_conv_thr'] == pytest.approx(RELAX_FMAX / 25.711, rel=1e-3)
