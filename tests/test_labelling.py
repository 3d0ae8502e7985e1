"""``DftLabellingWorkChain`` with the real pw.x on tiny cells."""

from __future__ import annotations

import itertools
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

from aiida_mlip_autopipe.labelling.workchain import (
    MISSING_OUTPUT,
    DftLabellingWorkChain,
    _label_outputs,
    _pw_calculations,
    window_places,
)

from .conftest import cu3au

PwCalculation = CalculationFactory('quantumespresso.pw')
FAST = {'kpoints_distance': 0.5}
#: k-point distance of the slow structure of the rolling-window test: long enough for three short runs beside it.
SLOW_KPOINTS_DISTANCE = 0.1


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


def as_left_by_a_replayed_results_step(run, returned: tuple[str, ...]):
    """Fake, for a crash that cannot be timed here: the node aiida-core leaves when a ``PwBaseWorkChain`` is killed
    after linking its outputs and before its checkpoint; replayed, it finishes ``ERROR_MISSING_OUTPUT`` with the
    outputs ``returned`` of the real ``run`` linked."""
    from aiida.common.links import LinkType
    from plumpy import ProcessState

    node = orm.WorkflowNode()
    node.set_process_type(run.process_type)
    node.base.links.add_incoming(run.inputs.pw.structure, LinkType.INPUT_WORK, 'pw__structure')
    node.set_process_state(ProcessState.FINISHED)
    node.set_exit_status(MISSING_OUTPUT)
    node.store()
    for name in returned:
        run.outputs[name].base.links.add_incoming(node, LinkType.RETURN, name)
    node.seal()
    return node


def test_a_run_replayed_after_a_crash_with_its_outputs_linked_gives_its_label(al_and_cu3au):
    _, labelling = al_and_cu3au
    run = next(child for child in labelling.called if child.process_label == 'PwBaseWorkChain')
    label = _label_outputs(run, relaxed=False)
    replayed = as_left_by_a_replayed_results_step(run, ('output_parameters', 'output_trajectory'))
    assert {name: node.pk for name, node in _label_outputs(replayed, relaxed=False).items()} == {
        name: node.pk for name, node in label.items()
    }
    # without its trajectory the label is incomplete: a failure, as any other run that ended 11
    assert _label_outputs(as_left_by_a_replayed_results_step(run, ('output_parameters',)), relaxed=False) is None


def test_label_equals_direct_pw_run(al_and_cu3au, tmp_path):
    """Energy, forces and stress of a label equal those of pw.x run by hand on the same input, with the same MPI
    processes and k-point pools (Cu3Au outweighs the Al cell and took both places of the window)."""
    from aiida_mlip_autopipe.setup import mpirun_command

    results, _ = al_and_cu3au
    frame = next(atoms for atoms in results['training_set'].iter_atoms() if atoms.info['config_type'] == 'cu3au')
    calculation = orm.load_node(frame.info['source_uuid'])
    assert calculation.process_type == 'aiida.calculations:quantumespresso.pw'
    (tmp_path / 'aiida.in').write_text(calculation.base.repository.get_object_content('aiida.in'))
    (tmp_path / 'pseudo').mkdir()
    for link in calculation.base.links.get_incoming(link_label_filter='pseudos__%').all():
        (tmp_path / 'pseudo' / link.node.filename).write_text(link.node.get_content())
    processes = calculation.get_option('resources')['num_mpiprocs_per_machine']
    assert processes == min(2, os.cpu_count())
    pools = calculation.inputs.parallelization['npool'] if 'parallelization' in calculation.inputs else 1
    command = ['pw.x', '-nk', str(pools), '-in', 'aiida.in']
    if processes > 1:
        command = [part.format(tot_num_mpiprocs=processes) for part in mpirun_command()] + command
    with open(tmp_path / 'pw.out', 'w') as handle:
        subprocess.run(
            command,
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
        ({'overrides': {'empty_bands_per_atom': -2}}, '`overrides.empty_bands_per_atom`: -2 is not allowed'),
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


def pw_runs(node) -> dict:
    """The ``PwBaseWorkChain`` children of a labelling node, by structure key."""
    children = [child for child in node.called if isinstance(child, orm.WorkChainNode)]
    return {child.base.extras.get('structure_key'): child for child in children}


def test_rolling_window_submits_the_next_structure_as_soon_as_any_run_ends(pw_code, pseudo_family):
    """One place more than the machine's cores: the costliest structure (its key sorts last) outweighs the rest and
    takes every core's place; while it runs, the fast ones follow each other in the place left."""
    from aiida_mlip_autopipe.benchmark.overhead import overhead_report
    from aiida_mlip_autopipe.campaign.stages import labelling_core_saturation
    from aiida_mlip_autopipe.common.timing import pw_cpu_seconds

    cores = os.cpu_count()
    results, node = run_get_node(
        DftLabellingWorkChain,
        structures=structures(
            z_slow=bulk('Al', 'fcc', a=4.05, cubic=True),
            b_fast0=bulk('Al', 'fcc', a=3.98),
            b_fast1=bulk('Al', 'fcc'),
            b_fast2=bulk('Al', 'fcc', a=4.1),
        ),
        code=pw_code,
        protocol=orm.Str('fast'),
        overrides=orm.Dict({'kpoints_distance': 0.8}),
        structure_overrides=orm.Dict({'z_slow': {'kpoints_distance': SLOW_KPOINTS_DISTANCE}}),
        max_concurrent=orm.Int(cores + 1),
    )
    assert node.exit_status == 0, node.exit_message
    assert results['training_set'].count == 4
    runs = pw_runs(node)
    places = {key: run.base.extras.get('window_places') for key, run in runs.items()}
    assert places == {'z_slow': cores, 'b_fast0': 1, 'b_fast1': 1, 'b_fast2': 1}
    # a run ends when its parser made its output parameters
    ends = {key: run.outputs.output_parameters.ctime for key, run in runs.items()}
    starts = {key: run.ctime for key, run in runs.items()}
    # each fast structure was submitted when the one before it ended, while the slow one still ran: batches of two
    # would have waited for the slow one
    fast = sorted((key for key in runs if key != 'z_slow'), key=starts.get)
    assert starts['z_slow'] < starts[fast[0]]
    for first, then in itertools.pairwise(fast):
        assert ends[first] <= starts[then] < ends['z_slow']
    # never more than two at once: the slow one on every core's place and one fast one
    for key, start in starts.items():
        assert sum(starts[other] <= start < ends[other] for other in runs if other != key) <= 1
    # the work chain records how busy pw.x kept the cores
    timing = node.base.extras.get('core_saturation')
    pw_seconds = sum(run.outputs.output_parameters['wall_time_seconds'] for run in runs.values())
    # the CPU time pw.x reports for itself (not its wall time, which counts a core shared with another run in full)
    calculations = {key: _pw_calculations(run)[0] for key, run in runs.items()}
    pw_cpu = sum(
        pw_cpu_seconds(calc.outputs.retrieved.base.repository.get_object_content('aiida.out')) * places[key]
        for key, calc in calculations.items()
    )
    assert timing['cores'] == cores and timing['runs'] == 4
    assert timing['pw_cpu_seconds'] == pytest.approx(pw_cpu, abs=0.1)
    pw_process_seconds = sum(
        run.outputs.output_parameters['wall_time_seconds'] * places[key] for key, run in runs.items()
    )
    assert 0 < pw_cpu <= pw_process_seconds + 0.1
    # the batch ends when the last pw.x run ended (its files retrieved, a moment before they are parsed)
    last = max(ends.values()).timestamp() - node.ctime.timestamp()
    assert last - 5 < timing['wall_seconds'] <= last
    assert 0 < timing['core_saturation'] <= 1
    # wall_seconds is kept to 0.1 s: the saturation recomputed from it is as exact as that rounding
    rounding = 0.05 / timing['wall_seconds'] + 1e-4
    assert timing['core_saturation'] == pytest.approx(pw_cpu / (cores * timing['wall_seconds']), rel=rounding)
    assert labelling_core_saturation(node) == timing['core_saturation']  # the campaign table's `busy` column
    report = '\n'.join(log.message for log in orm.Log.collection.get_logs_for(node))
    assert f'pw.x kept {cores} cores {100 * timing["core_saturation"]:.0f} % busy' in report
    # the overhead benchmark on this node: code time is the union of the four pw.x runs, within the wall time
    overhead = overhead_report(node)
    assert overhead.runs == 4 and not overhead.unknown_runs
    assert ends['z_slow'].timestamp() - starts['z_slow'].timestamp() < overhead.wall_seconds
    slow_seconds = runs['z_slow'].outputs.output_parameters['wall_time_seconds']
    assert slow_seconds - 1e-6 <= overhead.code_seconds <= min(pw_seconds, overhead.wall_seconds) + 1e-6
    assert overhead.batches[0]['core_saturation'] == timing['core_saturation']


def test_pools_never_exceed_the_kpoints_with_two_processes(pw_code, pseudo_family):
    """pw.x with two MPI processes: a 1-k-point cell runs without pools, an 8-k-point cell with two."""
    from aiida_mlip_autopipe.labelling.protocol import irreducible_kpoint_count

    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 2}, 'withmpi': True}
    results, node = run_get_node(
        DftLabellingWorkChain,
        structures=structures(gamma=bulk('Al', 'fcc', a=4.0), mesh=bulk('Al', 'fcc', a=4.05)),
        code=pw_code,
        protocol=orm.Str('fast'),
        overrides=orm.Dict({'kpoints_distance': 10.0}),
        structure_overrides=orm.Dict({'mesh': {'kpoints_distance': 0.75}}),
        options=orm.Dict(options),
    )
    assert node.exit_status == 0, results['failures'].get_dict()
    calculations = {key: _pw_calculations(run)[0] for key, run in pw_runs(node).items()}
    # pw.x's own count of k-points equals the one the pools were chosen from
    for key, mesh, count in (('gamma', [1, 1, 1], 1), ('mesh', [4, 4, 4], 8)):
        assert calculations[key].inputs.kpoints.get_kpoints_mesh()[0] == mesh
        counted = irreducible_kpoint_count(calculations[key].inputs.structure.get_ase(), mesh)
        assert calculations[key].outputs.output_parameters['number_of_k_points'] == counted == count
    # pw.x 6.7 runs with more pools than k-points, but leaves a process without work and says so
    outputs = {
        key: calc.outputs.retrieved.base.repository.get_object_content('aiida.out')
        for key, calc in calculations.items()
    }
    assert not any('some nodes have no k-points' in output for output in outputs.values())
    assert re.search(r'K-points division:\s+npool\s+=\s+2', outputs['mesh'])
    assert 'parallelization' not in calculations['gamma'].inputs
    assert calculations['mesh'].inputs.parallelization.get_dict() == {'npool': 2}


def test_window_places_give_the_leftover_of_full_rounds_the_whole_window():
    even = [1.0] * 7
    assert window_places(even[:1], 2, widest=2) == [2]
    assert window_places(even[:3], 2, widest=2) == [2, 1, 1]  # the first alone on both places, then a full round
    assert window_places(even[:4], 2, widest=2) == [1, 1, 1, 1]
    assert window_places(even, 4, widest=4) == [2, 1, 1, 1, 1, 1, 1]  # three share four places, then a full round
    assert window_places(even[:2], 5, widest=2) == [2, 2]  # never more than the cores of the local machine
    assert window_places([], 2, widest=2) == []


def test_window_places_give_a_structure_that_outweighs_the_rest_the_whole_window():
    # the Si demo's iteration 5: a 32-atom fragment (375 s of pw.x) and three of 16 atoms (80 s each); on one place
    # the large one ran 130 s alone beside an idle core
    assert window_places([375, 80, 80, 80], 2, widest=2) == [2, 2, 1, 1]
    assert window_places([375, 80], 2, widest=2) == [2, 2]
    assert window_places([375, 80, 80, 80], 3, widest=2) == [2, 1, 1, 1]  # no wider than the machine
    # side by side when neither outweighs the other by more than DOMINANT_SHARE
    assert window_places([105, 100], 2, widest=2) == [1, 1]
    assert window_places([300, 100, 100, 100, 100], 2, widest=2) == [2, 1, 1, 1, 1]  # the leftover rule


def test_the_costliest_structure_of_an_uneven_batch_takes_the_whole_window(pw_code, pseudo_family):
    """Three structures, two places: the costliest runs first on both as two MPI processes (two k-point pools), then
    the other two side by side on one each; the saturation still counts two cores, one per place."""
    from aiida_mlip_autopipe.common.timing import code_run

    results, node = run_get_node(
        DftLabellingWorkChain,
        structures=structures(
            wide=bulk('Al', 'fcc', a=4.05, cubic=True), one=bulk('Al', 'fcc', a=4.0), two=bulk('Al', 'fcc', a=4.1)
        ),
        code=pw_code,
        protocol=orm.Str('fast'),
        overrides=orm.Dict({'kpoints_distance': 0.75}),
        max_concurrent=orm.Int(2),
    )
    assert node.exit_status == 0, results['failures'].get_dict()
    runs = pw_runs(node)
    assert {key: run.base.extras.get('window_places') for key, run in runs.items()} == {'wide': 2, 'one': 1, 'two': 1}
    calculation = _pw_calculations(runs['wide'])[0]
    assert calculation.get_option('resources')['num_mpiprocs_per_machine'] == 2
    assert calculation.inputs.parallelization.get_dict() == {'npool': 2}
    assert code_run(calculation).processes == 2
    assert all('parallelization' not in _pw_calculations(runs[key])[0].inputs for key in ('one', 'two'))
    # the two small ones went together, after the wide one had ended
    end = runs['wide'].outputs.output_parameters.ctime
    assert end <= runs['one'].ctime and end <= runs['two'].ctime
    timing = node.base.extras.get('core_saturation')
    assert timing['cores'] == 2 and timing['runs'] == 3
    assert 'wide` (4 atoms, 2 places of the window)' in '\n'.join(
        log.message for log in orm.Log.collection.get_logs_for(node)
    )


def test_a_window_wider_than_the_machine_counts_the_machines_cores(pw_code, pseudo_family):
    """Three places on this machine's cores (two here): three pw.x runs go at once, and the core saturation counts the
    cores they shared, not three."""
    cores = os.cpu_count()
    results, node = run_get_node(
        DftLabellingWorkChain,
        structures=structures(**{f'al{index}': bulk('Al', 'fcc', a=3.95 + 0.05 * index) for index in range(6)}),
        code=pw_code,
        protocol=orm.Str('fast'),
        overrides=orm.Dict({'kpoints_distance': 0.3}),
        max_concurrent=orm.Int(cores + 1),
    )
    assert node.exit_status == 0, results['failures'].get_dict()
    runs = pw_runs(node)
    starts = {key: run.ctime for key, run in runs.items()}
    ends = {key: run.outputs.output_parameters.ctime for key, run in runs.items()}
    at_once = max(sum(starts[other] <= start < ends[other] for other in runs) for start in starts.values())
    assert at_once == cores + 1
    timing = node.base.extras.get('core_saturation')
    assert node.base.extras.get('machine_cores') == cores
    assert timing['cores'] == cores and 0 < timing['core_saturation'] <= 1
