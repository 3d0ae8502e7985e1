"""``PacemakerWorkChain``: protocols, and each restart handler called directly."""

from __future__ import annotations

import re

import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import ExitCode, ProcessHandlerReport
from aiida.engine.utils import instantiate_process
from aiida.manage import get_manager

from aiida_mlip_autopipe.data import TrainingSet
from aiida_mlip_autopipe.training.calculation import PacemakerCalculation
from aiida_mlip_autopipe.training.workchain import PacemakerWorkChain


@pytest.fixture
def training_set(aiida_profile, emt_cuau_frames):
    return TrainingSet(frames=emt_cuau_frames(6, 5)).store()


@pytest.fixture
def workchain(pacemaker_code, training_set):
    """Return a set-up ``PacemakerWorkChain`` instance (fast protocol) and its calculation inputs."""
    builder = PacemakerWorkChain.get_builder_from_protocol(pacemaker_code, training_set, protocol='fast')
    process = instantiate_process(get_manager().get_runner(), builder)
    process.setup()
    return process


def failed_calculation(localhost, exit_code, outputs=None):
    """Return a stored calculation node that failed with ``exit_code`` and has ``outputs``."""
    node = orm.CalcJobNode(computer=localhost, process_type='aiida.calculations:mlip_autopipe.pacemaker')
    node.set_process_label('PacemakerCalculation')
    node.set_option('resources', {'num_machines': 1})
    node.set_exit_status(exit_code.status)
    node.store()
    for label, output in (outputs or {}).items():
        output.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label=label)
        output.store()
    return node


@pytest.mark.parametrize(
    ('protocol', 'functions', 'maxiter', 'force_weight'),
    [('fast', 16, 60, 0.3), ('balanced', 100, 500, 0.05), ('stringent', 400, 1500, 0.05)],
)
def test_protocols(pacemaker_code, training_set, protocol, functions, maxiter, force_weight):
    builder = PacemakerWorkChain.get_builder_from_protocol(
        pacemaker_code, training_set, protocol=protocol, overrides={'pacemaker': {'parameters': {'seed': 7}}}
    )
    parameters = builder.pacemaker.parameters.get_dict()
    assert parameters['number_of_functions_per_element'] == functions
    assert parameters['maxiter'] == maxiter
    assert parameters['force_weight'] == force_weight  # production fits weigh energies (docs/training.rst)
    assert parameters['seed'] == 7
    assert builder.pacemaker.metadata['options']['withmpi'] is False


def test_unknown_protocol(pacemaker_code, training_set):
    with pytest.raises(ValueError, match='`protocol`: unknown protocol `quick`; allowed: fast, balanced, stringent'):
        PacemakerWorkChain.get_builder_from_protocol(pacemaker_code, training_set, protocol='quick')


def test_bad_parameters_fail_before_submission(pacemaker_code, training_set):
    from aiida.engine import run_get_node

    with pytest.raises(ValueError, match=r'`parameters\.optimizer`'):
        run_get_node(
            PacemakerCalculation,
            code=pacemaker_code,
            training_set=training_set,
            parameters=orm.Dict({'optimizer': 'Adam'}),
        )


def test_too_few_atoms_for_the_basis_fail_before_submission(pacemaker_code, emt_cuau_frames):
    """pace_activeset needs one environment per basis function and element: refused at launch, naming the fix."""
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.campaign.stages import training_refusal

    training_set = TrainingSet(frames=emt_cuau_frames(2, 5)).store()
    builder = PacemakerWorkChain.get_builder_from_protocol(pacemaker_code, training_set, protocol='balanced')
    expected = (
        r'`training_set`: only .*Au.* atoms; the active set needs at least `number_of_functions_per_element` \(100\)'
    )
    assert re.match(expected, training_refusal(builder))
    with pytest.raises(ValueError, match=expected):
        run_get_node(builder)
    builder.pacemaker.parameters = orm.Dict({'number_of_functions_per_element': 1})
    assert training_refusal(builder) is None


def test_handle_time_limit(workchain, localhost, cuau_potential):
    calculation = failed_calculation(
        localhost,
        PacemakerCalculation.exit_codes.ERROR_TIME_LIMIT,
        {'interim_potential': cuau_potential, 'metrics': orm.Dict({'iterations': 45})},
    )
    report = workchain.handle_time_limit(calculation)
    assert report == ProcessHandlerReport(True)
    assert workchain.ctx.inputs.parameters['maxiter'] == 60 - 45
    assert workchain.ctx.inputs.previous_potential.uuid == cuau_potential.uuid


def test_outputs_linked_before_a_crash_are_outputs_of_the_replayed_results_step(workchain, localhost, cuau_potential):
    """A kill between linking the outputs and the next checkpoint replays ``results``: the outputs it finds linked
    count as its outputs, so the work chain does not finish ``ERROR_MISSING_OUTPUT`` (aiida-core's version skips
    them). The crash is simulated: the links the lost step stored, then the replay."""
    outputs = {
        'potential': cuau_potential,
        'metrics': orm.Dict({'iterations': 60}),
        'remote_folder': orm.RemoteData(computer=localhost, remote_path='/tmp'),
        'retrieved': orm.FolderData(),
    }
    calculation = failed_calculation(localhost, ExitCode(0), outputs)
    for name, node in outputs.items():
        node.base.links.add_incoming(workchain.node, link_type=LinkType.RETURN, link_label=name)
    assert workchain.spec().outputs.validate(workchain.outputs) is not None  # the replay starts without them
    workchain._attach_outputs(calculation)
    assert workchain.spec().outputs.validate(workchain.outputs) is None
    workchain.update_outputs()  # links each output once
    returned = workchain.node.base.links.get_outgoing(link_type=LinkType.RETURN).all()
    assert sorted((link.link_label, link.node.pk) for link in returned) == sorted(
        (name, node.pk) for name, node in outputs.items()
    )


def test_handle_nan_loss(workchain, localhost):
    calculation = failed_calculation(localhost, PacemakerCalculation.exit_codes.ERROR_NAN_LOSS)
    assert workchain.handle_nan_loss(calculation) == ProcessHandlerReport(True)
    assert workchain.ctx.inputs.parameters['optimizer'] == 'L-BFGS-B'
    assert workchain.ctx.inputs.parameters['l2_coefficient'] == pytest.approx(1e-7)
    assert workchain.handle_nan_loss(calculation) == ProcessHandlerReport(True)
    assert workchain.ctx.inputs.parameters['optimizer'] == 'CG'
    report = workchain.handle_nan_loss(calculation)
    assert report.do_break
    assert report.exit_code.status == PacemakerWorkChain.exit_codes.ERROR_NAN_LOSS_PERSISTS.status


def test_handle_out_of_memory(workchain, localhost):
    calculation = failed_calculation(localhost, PacemakerCalculation.exit_codes.ERROR_OUT_OF_MEMORY)
    assert workchain.handle_out_of_memory(calculation) == ProcessHandlerReport(True)
    assert workchain.ctx.inputs.parameters['batch_size'] == 50
    parameters = workchain.ctx.inputs.parameters.get_dict()
    workchain.ctx.inputs.parameters = orm.Dict({**parameters, 'batch_size': 1})
    report = workchain.handle_out_of_memory(calculation)
    assert report.exit_code.status == PacemakerWorkChain.exit_codes.ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE.status


def test_previous_potential_must_cover_elements(pacemaker_code, cuau_potential):
    from aiida.engine import run_get_node
    from ase.build import bulk
    from ase.calculators.emt import EMT

    frames = []
    for a in (4.0, 4.05):
        atoms = bulk('Al', 'fcc', a=a, cubic=True)
        atoms.calc = EMT()
        atoms.get_forces()
        frames.append(atoms)
    builder = PacemakerWorkChain.get_builder_from_protocol(
        pacemaker_code, TrainingSet(frames=frames), protocol='fast', previous_potential=cuau_potential
    )
    with pytest.raises(ValueError, match=r'`previous_potential`: has no basis for Al \(it covers Au, Cu\)'):
        run_get_node(builder)


@pytest.mark.parametrize('protocol', ['fast', 'balanced', 'stringent'])
def test_protocol_weighting_and_overrides(pacemaker_code, training_set, protocol):
    """Energy-based weights in balanced and stringent, dropping nothing; overrides merge key by key or switch off."""
    from aiida_mlip_autopipe.training.pacemaker_io import PacemakerParameters

    def parameters(overrides=None):
        builder = PacemakerWorkChain.get_builder_from_protocol(
            pacemaker_code, training_set, protocol=protocol, overrides=overrides
        )
        return builder.pacemaker.parameters.get_dict()

    default = parameters()
    PacemakerParameters(**default)  # valid as a whole
    if protocol == 'fast':
        assert default.get('weighting') is None
    else:
        assert default['weighting'] == {'energy': 'convex_hull', 'de': 1.0, 'df': 1.0, 'de_up': 1000.0, 'wlow': None}
    tuned = parameters({'pacemaker': {'parameters': {'weighting': {'de': 0.3}}}})['weighting']
    assert tuned['de'] == 0.3
    assert tuned.get('energy', 'convex_hull') == 'convex_hull'
    assert parameters({'pacemaker': {'parameters': {'weighting': None}}})['weighting'] is None
    shape = {'ALL': {'nradmax_by_orders': [6, 2], 'lmax_by_orders': [0, 1]}}
    assert parameters({'pacemaker': {'parameters': {'basis_shape': shape}}})['basis_shape'] == shape
    assert 'basis_shape' not in default  # PacemakerParameters' default, replaced whole by an override


def test_basis_shape_beyond_white_list_fails_before_submission(pacemaker_code, training_set):
    from aiida.engine import run_get_node

    unary_shape = {'nradmax_by_orders': [15, 6, 4, 3, 2, 2], 'lmax_by_orders': [0, 3, 3, 2, 2, 1]}
    builder = PacemakerWorkChain.get_builder_from_protocol(
        pacemaker_code,
        training_set,
        protocol='fast',
        overrides={
            'pacemaker': {'parameters': {'number_of_functions_per_element': 1, 'basis_shape': {'ALL': unary_shape}}}
        },
    )
    with pytest.raises(ValueError, match=r'`parameters\.basis_shape`: pyace cannot build this basis for Au, Cu'):
        run_get_node(builder)


def test_flat_convex_hull_falls_back_to_cohesive_weighting(pacemaker_code, emt_cuau_frames, tmp_path, monkeypatch):
    """Two structures of two compositions make no convex hull (pacemaker's Qhull would stop the fit)."""
    from pathlib import Path

    import yaml
    from aiida.engine import run_get_node

    monkeypatch.chdir(tmp_path)  # a dry run writes its folder under submit_test/ here
    pure, alloy = [frame for frame in emt_cuau_frames(40, 3) if len(frame) == 4][:2]
    pure.symbols[:] = 'Cu'  # the labels stay those of the alloy cell: only the compositions matter here
    training_set = TrainingSet(frames=[pure, alloy]).store()
    _, node = run_get_node(
        PacemakerCalculation,
        code=pacemaker_code,
        training_set=training_set,
        parameters=orm.Dict({'number_of_functions_per_element': 1, 'weighting': {'energy': 'convex_hull'}}),
        metadata={'dry_run': True, 'store_provenance': False},
    )
    written = yaml.safe_load((Path(node.dry_run_info['folder']) / 'input.yaml').read_text())
    assert written['fit']['weighting']['energy'] == 'cohesive'


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fit_stopped_by_its_time_limit_continues_from_the_interim_potential(pacemaker_code, emt_cuau_frames):
    """A real restart by ``BaseRestartWorkChain``: the driver stops pacemaker at its soft time limit (340),
    ``handle_time_limit`` continues from the interim potential for the iterations left.

    The wall time (120 s, soft limit 90 s) leaves pacemaker time to start and fit some of far too many
    iterations; the work chain may run two fits, so it ends after the second, also stopped (401).
    """
    import yaml
    from aiida.engine import run_get_node

    maxiter = 100_000  # and a basis large enough that BFGS does not converge before the limit
    # BFGS also ends by itself when its line search loses precision: a basis and a set large enough that
    # each iteration takes a while make that unlikely before the limit
    training_set = TrainingSet(frames=emt_cuau_frames(40, 1)).store()
    overrides = {
        'max_iterations': 2,
        'pacemaker': {'parameters': {'number_of_functions_per_element': 64, 'maxiter': maxiter, 'test_size': 0.0}},
    }
    builder = PacemakerWorkChain.get_builder_from_protocol(
        pacemaker_code, training_set, protocol='fast', overrides=overrides, options={'max_wallclock_seconds': 120}
    )
    _, node = run_get_node(builder)
    report = '\n'.join(log.message for log in orm.Log.collection.get_logs_for(node))

    calculations = sorted(node.called, key=lambda child: child.ctime)
    assert len(calculations) == 2, f'{[(c.exit_status, c.exit_message) for c in calculations]}\n{report}'
    first, second = calculations
    assert first.exit_status == PacemakerCalculation.exit_codes.ERROR_TIME_LIMIT.status, first.exit_message
    done = first.outputs.metrics['iterations']
    assert 0 < done < maxiter
    # the restart: the interim potential of the first fit is where the second starts, for the iterations left
    assert second.inputs.previous_potential.uuid == first.outputs.interim_potential.uuid
    assert second.inputs.parameters['maxiter'] == maxiter - done
    written = yaml.safe_load(second.base.repository.get_object_content('input.yaml'))
    assert written['potential'] == 'previous_potential.yaml' and written['fit']['maxiter'] == maxiter - done
    # ... and it continues the fit rather than starting over: its first loss is where the first fit ended
    first_losses = first.outputs.metrics['loss_per_iteration']
    second_losses = second.outputs.metrics['loss_per_iteration']
    assert second_losses[0] < 0.2 * first_losses[0]
    assert second_losses[0] == pytest.approx(first_losses[-1], rel=0.5)
    assert second.exit_status == PacemakerCalculation.exit_codes.ERROR_TIME_LIMIT.status, second.exit_message
    assert node.exit_status == PacemakerWorkChain.exit_codes.ERROR_MAXIMUM_ITERATIONS_EXCEEDED.status
    assert f'hit the time limit after {done} iterations: continuing from its interim potential' in report
