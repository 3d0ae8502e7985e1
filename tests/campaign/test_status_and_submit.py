"""The status table and plot, and refusals of `mlip-autopipe submit` before anything is submitted."""

from __future__ import annotations

from aiida import orm
from aiida.common.links import LinkType
from ase.build import bulk
from click.testing import CliRunner
from plumpy import ProcessState

from aiida_mlip_autopipe.campaign.status import format_table, labelling_progress, plot_learning_curve
from aiida_mlip_autopipe.cli import cli

ROWS = [
    {
        'iteration': 0,
        'labels_added': 12,
        'training_set_size': 12,
        'force_rmse_train': 90.0,
        'heldout_force_rmse': 140.5,
        'high_gamma_fraction': 0.25,
        'max_gamma': 12.5,
        'state': 'refit',
    },
    {
        'iteration': 1,
        'labels_added': 8,
        'labels_failed': 1,
        'training_set_size': 20,
        'heldout_force_rmse': 95.25,
        'high_gamma_fraction': 0.01,
        'max_gamma': 1.8,
        'state': 'converged',
    },
]


def test_table_lists_every_iteration_with_missing_values_as_dashes():
    lines = format_table(ROWS).splitlines()
    header = lines[0].split()
    assert header[:5] == ['it', 'train+', 'held+', 'failed', 'train'] and header[-1] == 'state'
    assert 'F held' in lines[0] and 'halted' in lines[0] and 'high-gamma' in lines[0]
    cells = lines[1].split()
    assert cells[:2] == ['0', '12'] and '140.5' in cells and '0.250' in cells and '12.50' in cells
    assert cells[-1] == 'refit' and cells.count('-') == 11
    assert lines[2].split()[-1] == 'converged' and '95.2' in lines[2]


def test_a_running_labelling_batch_says_how_far_it_has_got(aiida_profile):
    """The graph of a batch of three structures: one pw.x work chain finished, one failed, one running."""
    batch = orm.WorkChainNode()
    batch.set_process_label('DftLabellingWorkChain')
    for key in ('a', 'b', 'c'):
        batch.base.links.add_incoming(
            orm.StructureData(ase=bulk('Al')).store(), LinkType.INPUT_WORK, f'structures__{key}'
        )
    batch.set_process_state(ProcessState.RUNNING)
    batch.store()
    for key, state in (('a', ProcessState.FINISHED), ('b', ProcessState.EXCEPTED), ('c', ProcessState.RUNNING)):
        run = orm.WorkChainNode()
        run.set_process_label('PwBaseWorkChain')
        run.set_process_state(state)
        run.base.links.add_incoming(batch, LinkType.CALL_WORK, f'label_{key}')
        run.store()
    assert labelling_progress(batch) == '2 of 3 structures done, 1 running'
    batch.set_process_state(ProcessState.FINISHED)
    assert labelling_progress(batch) is None


def test_learning_curve_png(tmp_path):
    path = tmp_path / 'curve.png'
    plot_learning_curve(ROWS, path, {'iteration_00': {'force_rmse': 150.0}, 'iteration_01': {'force_rmse': 90.0}})
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_criteria_lines_say_met_or_unmet_with_value_and_target():
    from aiida_mlip_autopipe.campaign.status import format_criteria

    text = format_criteria(
        [
            {'name': 'temperature', 'met': True, 'value': 1200.0, 'target': 1200.0},
            {'name': 'runs_halted', 'met': False, 'value': 2, 'target': 0},
        ]
    )
    assert text.splitlines() == [
        '  met    temperature              1200  (target 1200)',
        '  UNMET  runs_halted                 2  (target 0)',
    ]


def test_submit_names_the_wrong_field(aiida_profile, tmp_path):
    path = tmp_path / 'campaign.yaml'
    path.write_text('name: x\nelements: [Cu, Au]\nexploration: {gamma_upper: -1}\n')
    result = CliRunner().invoke(cli, ['-p', aiida_profile.name, 'submit', str(path)])
    assert result.exit_code == 1
    assert 'field `exploration.gamma_upper`: Input should be greater than 0' in result.output


def test_submit_refuses_a_code_that_is_not_set_up(aiida_profile, tmp_path):
    path = tmp_path / 'campaign.yaml'
    path.write_text('name: x\nelements: [Cu, Au]\nlabeller: emt\ncodes: {pacemaker: nothing@nowhere}\n')
    result = CliRunner().invoke(cli, ['-p', aiida_profile.name, 'submit', str(path)])
    assert result.exit_code == 1
    assert 'field `codes.pacemaker`: code `nothing@nowhere` is not set up' in result.output
