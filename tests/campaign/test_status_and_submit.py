"""The status table and plot, and refusals of `mlip-autopipe submit` before anything is submitted."""

from __future__ import annotations

from click.testing import CliRunner

from aiida_mlip_autopipe.campaign.status import format_table, plot_learning_curve
from aiida_mlip_autopipe.cli import cli

ROWS = [
    {
        'iteration': 0,
        'labels_added': 12,
        'training_set_size': 12,
        'force_rmse_train': 90.0,
        'force_rmse_test': 140.5,
        'high_gamma_fraction': 0.25,
        'max_gamma': 12.5,
        'state': 'refit',
    },
    {
        'iteration': 1,
        'labels_added': 8,
        'labels_failed': 1,
        'training_set_size': 20,
        'force_rmse_test': 95.25,
        'high_gamma_fraction': 0.01,
        'max_gamma': 1.8,
        'state': 'converged',
    },
]


def test_table_lists_every_iteration_with_missing_values_as_dashes():
    lines = format_table(ROWS).splitlines()
    assert lines[0].split() == [
        'it',
        'labels',
        'failed',
        'train',
        'set',
        'F',
        'train',
        'F',
        'test',
        'E',
        'test',
        'high-gamma',
        'max',
        'gamma',
        'DFT',
        's',
        'state',
    ]
    assert lines[1].split() == ['0', '12', '-', '12', '90.0', '140.5', '-', '0.250', '12.50', '-', 'refit']
    assert lines[2].split()[-1] == 'converged' and '95.2' in lines[2]


def test_learning_curve_png(tmp_path):
    path = tmp_path / 'curve.png'
    plot_learning_curve(ROWS, path)
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


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
