"""The app's models without a browser: validation messages per field, resources, submission, monitor."""

from __future__ import annotations

import pytest
import yaml
from aiida import orm

from aiida_mlip_autopipe.app.models import (
    CampaignModel,
    MonitorModel,
    ResourcesModel,
    SubmitModel,
    dft_cost,
    errors_by_field,
    gamma_statistics,
)
from aiida_mlip_autopipe.campaign.config import protocol_presets


def test_default_campaign_is_valid_and_filled_from_the_protocol():
    model = CampaignModel()
    assert model.valid, model.errors
    assert model.config['protocol'] == 'balanced'
    assert model.config['elements'] == ['Cu', 'Au']
    # the preset filled what the step does not show
    assert model.config['exploration'] == {
        **protocol_presets()['balanced']['exploration'],
        'ensemble': 'npt',
        'min_atoms': 32,
        'selection': 'maxvol',
        'label_above_upper': False,
        'label_atoms': None,
        'label_atoms_max': None,
        'ramp_iterations': 2,
        'temperature_margin': 0.2,
        'barostat': 'iso',
        'swaps': {'enabled': True, 'every': 20, 'attempts': 4, 'temperature': None},
    }


def test_protocol_brings_its_targets_and_budgets():
    model = CampaignModel()
    model.protocol = 'fast'
    fast = protocol_presets()['fast']
    assert model.force_target == fast['targets']['force_rmse_mev_a']
    assert model.iterations == fast['budgets']['iterations']
    assert model.config['dft']['max_concurrent'] == fast['dft']['max_concurrent']
    model.iterations = 1  # the user's value wins afterwards
    assert model.config['budgets']['iterations'] == 1


@pytest.mark.parametrize(
    ('changes', 'key', 'text'),
    [
        ({'elements': 'Cu, Xx'}, 'elements', 'unknown element(s) Xx'),
        ({'elements': 'Cu Cu'}, 'elements', 'each element may appear once'),
        ({'temperature_min': 900.0, 'temperature_max': 300.0}, 'temperature', 'max (300.0) must not be below min'),
        ({'composition_max': 1.5}, 'composition', 'composition.max: Input should be less than or equal to 1'),
        ({'force_target': -1.0}, 'force_target', 'greater than 0'),
        ({'iterations': 0}, 'iterations', 'greater than or equal to 1'),
        ({'name': '  '}, 'name', 'at least 1 character'),
        ({'extra': 'exploration: {steps: 1}'}, 'extra', 'exploration.steps: Input should be greater than or equal'),
        ({'extra': 'nonsense: 1'}, 'extra', 'unknown field; allowed here: name, elements'),
        ({'extra': '[1, 2'}, 'extra', 'not valid YAML'),
    ],
)
def test_errors_are_shown_next_to_their_field(changes, key, text):
    model = CampaignModel()
    model.set_trait('protocol', 'fast')
    for name, value in changes.items():
        setattr(model, name, value)
    assert not model.valid
    assert text in model.errors[key], model.errors
    assert model.config is None
    # correcting the field clears the error
    fresh = CampaignModel(protocol='fast')
    for name in changes:
        setattr(model, name, getattr(fresh, name))
    assert model.valid, model.errors


def test_errors_by_field_keeps_the_path_of_nested_fields():
    message = (
        'invalid campaign file:\n  field `budgets.iterations`: too small\n'
        '  field `dft.max_concurrent`: bad\n  field `elements`: unknown element(s) Q'
    )
    assert errors_by_field(message) == {
        'iterations': 'too small',
        'extra': 'dft.max_concurrent: bad',
        'elements': 'unknown element(s) Q',
    }


@pytest.fixture
def emt_codes(aiida_profile_clean, tmp_path):
    """pacemaker, lmp and python codes on a computer `localhost` (stand-in executables: nothing runs)."""
    from aiida_mlip_autopipe.setup import CODES, ensure_code, ensure_localhost

    computer = ensure_localhost('localhost', workdir=str(tmp_path / 'scratch'))
    for label in ('pacemaker', 'lmp', 'python'):
        ensure_code(label, computer, CODES[label][0], '/bin/true')
    return computer


def test_resources_come_from_the_profile(emt_codes):
    model = ResourcesModel()
    model.refresh()
    assert model.computers == ['localhost']
    assert model.computer == 'localhost'
    assert model.code_options['pacemaker'] == ['pacemaker@localhost']
    assert model.code_options['pw'] == []
    assert model.campaign_codes() == {'pacemaker': 'pacemaker@localhost', 'lmp': 'lmp@localhost'}


def test_resources_offer_a_lammps_code_registered_for_aiida_lammps(emt_codes):
    from aiida import orm

    for label, plugin in (
        ('lammps-base', 'lammps.base'),
        ('lammps-raw', 'lammps.raw'),
        ('adder', 'core.arithmetic.add'),
    ):
        orm.InstalledCode(
            label=label, computer=emt_codes, filepath_executable='/bin/true', default_calc_job_plugin=plugin
        ).store()
    model = ResourcesModel()
    model.refresh()
    assert model.code_options['lmp'] == ['lammps-base@localhost', 'lammps-raw@localhost', 'lmp@localhost']
    assert model.codes['lmp'] == 'lmp@localhost'


def test_submit_step_shows_the_file_and_refuses_missing_codes(emt_codes, tmp_path):
    campaign = CampaignModel(protocol='fast', name='cuau-app', labeller='qe')
    resources = ResourcesModel()
    resources.refresh()
    submit = SubmitModel(campaign, resources, campaign_dir=str(tmp_path))
    data = yaml.safe_load(submit.yaml_text)
    assert data['name'] == 'cuau-app'
    assert data['codes'] == {'pacemaker': 'pacemaker@localhost', 'lmp': 'lmp@localhost'}
    # pw.x is not set up: the DFT labeller is refused, naming the field
    assert 'field `codes.pw`: code `pw@localhost` is not set up' in submit.error
    assert submit.submit() is None
    campaign.labeller = 'emt'
    assert submit.error == ''
    campaign.elements = 'Cu, Si'  # EMT has no Si
    assert submit.error.startswith('field `labeller`:'), submit.error
    campaign.elements = 'Cu, Xx'
    assert 'elements: unknown element(s) Xx' in submit.error
    assert submit.yaml_text == ''


def test_submit_without_daemon_says_so(emt_codes, tmp_path):
    campaign = CampaignModel(protocol='fast', name='cuau-app', labeller='emt')
    resources = ResourcesModel()
    resources.refresh()
    submit = SubmitModel(campaign, resources, campaign_dir=str(tmp_path))
    assert submit.submit() is None
    assert 'the daemon is not running' in submit.error
    # the campaign file was written as shown
    (written,) = tmp_path.glob('cuau-app-*.yaml')
    assert written.read_text() == submit.yaml_text


ROWS = [
    {
        'iteration': 0,
        'labels_requested': 10,
        'labels_added': 9,
        'labels_failed': 1,
        'training_set_size': 9,
        'force_rmse_train': 40.0,
        'heldout_force_rmse': 60.0,
        'heldout_energy_rmse': 3.0,
        'temperatures': [300.0, 600.0],
        'high_gamma_fraction': 0.25,
        'max_gamma': 7.5,
        'selected': 4,
        'state': 'refit',
    },
    {'iteration': 1, 'labels_requested': 4, 'labels_added': 4, 'labels_failed': 0, 'state': 'running'},
]


def test_gamma_statistics_and_dft_cost():
    assert gamma_statistics(ROWS) == [
        {'iteration': 0, 'temperatures': [300.0, 600.0], 'high_gamma_fraction': 0.25, 'max_gamma': 7.5, 'selected': 4}
    ]
    assert dft_cost(ROWS) == {'requested': 14, 'labelled': 13, 'failed': 1, 'cpu_seconds': None}
    assert dft_cost([{**ROWS[0], 'dft_cpu_seconds': 12.5}, {**ROWS[1], 'dft_cpu_seconds': 2.0}])['cpu_seconds'] == 14.5


def test_monitor_lists_campaigns_and_reads_live_rows_and_failures(aiida_profile_clean):
    from aiida.common.links import LinkType

    from aiida_mlip_autopipe.app.models import CAMPAIGN_PROCESS_TYPE

    labelling = orm.WorkflowNode(process_type='aiida.workflows:mlip_autopipe.labelling.ase')
    labelling.store()
    failures = orm.Dict({'cu3au_rattle_2': {'stage': 'refused', 'exit_status': None, 'message': 'atoms 0.9 A apart'}})
    failures.store()
    failures.base.links.add_incoming(labelling, LinkType.RETURN, 'failures')
    node = orm.WorkflowNode(process_type=CAMPAIGN_PROCESS_TYPE, label='cuau-live')
    node.set_process_state('waiting')
    node.store()
    node.base.extras.set('campaign_iterations', [{**ROWS[0], 'labelling_pk': labelling.pk}, ROWS[1]])
    other = orm.WorkflowNode(process_type='aiida.workflows:core.arithmetic.add_multiply').store()

    monitor = MonitorModel()
    monitor.refresh()
    assert [c['pk'] for c in monitor.campaigns] == [node.pk]
    assert other.pk not in [c['pk'] for c in monitor.campaigns]
    assert monitor.selected == node.pk
    assert monitor.state == 'waiting'
    assert [row['iteration'] for row in monitor.rows] == [0, 1]
    assert monitor.table.splitlines()[1].split()[:4] == ['0', '9', '-', '1']
    assert monitor.cost['requested'] == 14
    assert monitor.failures == [
        {
            'iteration': 0,
            'structure': 'cu3au_rattle_2',
            'stage': 'refused',
            'exit_status': None,
            'reason': 'atoms 0.9 A apart',
        }
    ]
    assert monitor.learning_curve.startswith(b'\x89PNG')
    assert monitor.validation == ''
    assert monitor.report == ''  # nothing reported yet


def test_monitor_shows_summary_validation_and_exit_status_of_a_finished_campaign(aiida_profile_clean):
    from aiida.common.links import LinkType

    from aiida_mlip_autopipe.app.models import CAMPAIGN_PROCESS_TYPE

    node = orm.WorkflowNode(process_type=CAMPAIGN_PROCESS_TYPE, label='cuau-done')
    node.set_process_state('finished')
    node.set_exit_status(401)
    node.set_exit_message('iteration budget spent (1 of 1)')
    node.store()
    summary = orm.Dict(
        {
            'iterations': [ROWS[0]],
            'shipped': 'iteration_00',
            'shipped_reason': 'lowest held-out force RMSE',
            'stop_reason': 'iteration budget spent',
        }
    )
    validation = orm.Dict(
        {
            'cells': {
                'Cu': {
                    'potential': {'lattice_a': 3.60, 'bulk_modulus': 140.0},
                    'labeller': {'lattice_a': 3.52, 'bulk_modulus': 180.0},
                    'error': {'lattice_a': 0.0227, 'bulk_modulus': -0.222},
                    'passed': {'lattice_a': False, 'bulk_modulus': False},
                }
            },
            'failed': ['Cu lattice_a (+2.3%)', 'Cu bulk_modulus (-22.2%)'],
            'passed': False,
        }
    )
    for label, output in (('summary', summary), ('validation', validation)):
        output.store()
        output.base.links.add_incoming(node, LinkType.RETURN, label)

    for index in range(15):
        node.logger.report(f'step {index}')

    monitor = MonitorModel()
    monitor.refresh()
    assert monitor.report.splitlines()[-1].endswith('step 14')
    assert len(monitor.report.splitlines()) == 12
    assert monitor.campaigns[0]['exit_status'] == 401
    assert monitor.state == 'finished [401] iteration budget spent (1 of 1)'
    assert monitor.summary == 'stopped: iteration budget spent; ships iteration_00 (lowest held-out force RMSE)'
    assert '  lattice_a (A)                     3.600      3.520      +2.3%  FAIL' in monitor.validation
    assert monitor.validation.splitlines()[-1] == 'FAILED: Cu lattice_a (+2.3%); Cu bulk_modulus (-22.2%)'
    assert monitor.gamma[0]['max_gamma'] == 7.5
    # no EOS curves in this report and no potential: nothing to draw, nothing to export
    assert monitor.eos_plot == b'' and not monitor.exportable
    assert monitor.export() is None
    assert f'campaign {node.pk} has no `potential` output' in monitor.export_error


def test_three_elements_take_the_simplex_density_and_draw_it():
    model = CampaignModel(protocol='fast')
    model.elements = 'Cu, Ag, Au'
    assert model.valid, model.errors
    assert 'composition' not in model.to_dict() and model.to_dict()['composition_grid'] == {'density': 2}
    assert len(model.compositions) == 10
    model.grid_density = 1
    assert len(model.compositions) == 7
    assert model.composition_png().startswith(b'\x89PNG')
    model.grid_density = 0  # no grid and no explicit point: the field says so
    assert 'give at least one point' in model.errors['extra'], model.errors
    model.extra = 'composition_points: [{Cu: 0.5, Ag: 0.25, Au: 0.25}]'
    assert model.valid and model.compositions == [{'Cu': 0.5, 'Ag': 0.25, 'Au': 0.25}]
    model.extra = 'composition_points: [{Cu: 0.5, Zr: 0.5}]'
    assert 'composition_points[0].Zr: `Zr` is not one of `elements`' in model.errors['extra'], model.errors
    model.elements = 'Cu Ag Au Ni Pd Pt Fe'
    assert '7 elements; a campaign takes 1 to 6' in model.errors['elements']
