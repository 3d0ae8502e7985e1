"""``PacemakerParser`` on captured pacemaker output (tests/training/fixtures/<case>/, made by
make_parser_fixtures.py): one case per exit code."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.plugins import CalculationFactory

from aiida_mlip_autopipe.training.parser import PacemakerParser

from .conftest import FIXTURES

PacemakerCalculation = CalculationFactory('mlip_autopipe.pacemaker')


def parse_fixture(localhost, case: str):
    """Return (outputs, calcfunction node) of parsing the files of ``fixtures/<case>``."""
    node = orm.CalcJobNode(computer=localhost, process_type='aiida.calculations:mlip_autopipe.pacemaker')
    node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
    node.set_process_label('PacemakerCalculation')
    node.store()
    retrieved = orm.FolderData(tree=FIXTURES / case)
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
    retrieved.store()
    return PacemakerParser.parse_from_node(node, store_provenance=False)


def test_success(localhost):
    results, call = parse_fixture(localhost, 'success')
    assert call.exit_status == 0, call.exit_message
    potential = results['potential']
    assert potential.elements == ['Au', 'Cu']
    assert potential.has_file('asi') and potential.has_file('yace')
    metrics = results['metrics'].get_dict()
    assert metrics['iterations'] == 3
    assert len(metrics['loss_per_iteration']) >= 3
    assert metrics['loss_per_iteration'][-1] < metrics['loss_per_iteration'][0]
    assert 0 < metrics['test_force_rmse_mev_per_angstrom'] < 5000
    assert metrics['step_exit_status'] == {'pacemaker': 0, 'pace_yaml2yace': 0, 'pace_activeset': 0}
    assert set(metrics['reference_energies']) == {'Au', 'Cu', 'shift'}


@pytest.mark.parametrize(
    ('case', 'exit_code', 'outputs', 'message'),
    [
        ('nan_loss', 'ERROR_NAN_LOSS', set(), 'NaN'),
        ('time_limit', 'ERROR_TIME_LIMIT', {'interim_potential', 'metrics'}, 'stopped after'),
        # killed by the job's memory limit before the fit began: no iteration, no metrics
        ('out_of_memory', 'ERROR_OUT_OF_MEMORY', set(), 'its memory reached the limit'),
        # killed mid-fit with memory to spare: its own exit code, the iterations done kept in the metrics
        ('killed', 'ERROR_KILLED', {'metrics'}, 'without evidence of running out of memory'),
        ('tensorflow', 'ERROR_TENSORFLOW', set(), 'TensorFlow'),
        ('missing_potential', 'ERROR_MISSING_POTENTIAL', set(), 'no_such_data'),
        ('active_set_failed', 'ERROR_ACTIVE_SET_FAILED', {'potential', 'metrics'}, 'pace_activeset'),
        ('yace_conversion', 'ERROR_YACE_CONVERSION', {'metrics'}, 'pace_yaml2yace'),
    ],
)
def test_failures(localhost, case, exit_code, outputs, message):
    results, call = parse_fixture(localhost, case)
    assert call.exit_status == getattr(PacemakerCalculation.exit_codes, exit_code).status
    assert call.exit_status < 400  # failures are never taken from the cache
    assert message in call.exit_message
    assert set(results or {}) == outputs  # exactly these: a failed fit outputs nothing it should not
    if 'potential' in outputs:
        assert not results['potential'].has_file('asi')
    if 'interim_potential' in outputs:
        assert results['interim_potential'].elements == ['Au', 'Cu']
        assert not results['interim_potential'].has_file('yace')
