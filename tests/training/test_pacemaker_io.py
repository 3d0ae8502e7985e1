"""Pure helpers: fit parameters, ``input.yaml``, metric tables, failure diagnosis."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from aiida_mlip_autopipe.training import pacemaker_io as io
from aiida_mlip_autopipe.training.calculation import parameters_error

from .conftest import ACE_CUAU

TRACEBACK = 'Traceback (most recent call last):\n'


def test_parameters_defaults_and_errors():
    parameters = io.PacemakerParameters()
    assert parameters.cutoff == 5.0
    assert parameters.optimizer == 'BFGS'
    with pytest.raises(ValidationError):
        io.PacemakerParameters(cutof=5.0)
    expected = "`parameters.optimizer`: Input should be 'BFGS', 'L-BFGS-B' or 'CG'"
    assert parameters_error({'optimizer': 'Adam'}) == expected
    assert parameters_error({'test_size': 0.7}).startswith('`parameters.test_size`: Input should be less than 0.5')
    assert parameters_error({'maxiters': 3}) == '`parameters.maxiters`: Extra inputs are not permitted'
    assert parameters_error({'maxiter': 3}) is None


def test_input_new_basis_and_continuation(data_regression):
    parameters = io.PacemakerParameters(number_of_functions_per_element=30, embedding='linear', test_size=0.0)
    content = io.pacemaker_input(parameters, ['Cu', 'Au', 'Cu'])
    assert content['potential']['elements'] == ['Au', 'Cu']
    assert content['potential']['embeddings']['ALL']['ndensity'] == 1
    assert 'test_size' not in content['data']
    data_regression.check(content)
    continued = io.pacemaker_input(
        parameters, ['Au', 'Cu'], potential_filename='previous.yaml', reference_energies={'Au': -1.0, 'Cu': -2.0}
    )
    assert continued['potential'] == 'previous.yaml'
    assert continued['data']['reference_energy'] == {'Au': -1.0, 'Cu': -2.0}
    with pytest.raises(ValueError, match='`reference_energies`: no value for Cu'):
        io.pacemaker_input(parameters, ['Au', 'Cu'], reference_energies={'Au': -1.0})


@pytest.mark.parametrize(
    ('structures', 'fraction', 'held_out'), [(8, 0.1, 1), (60, 0.15, 9), (2, 0.45, 1), (20, 0.0, 0), (5, 0.49, 2)]
)
def test_held_out_count(structures, fraction, held_out):
    assert io.held_out_count(structures, fraction) == held_out
    parameters = io.PacemakerParameters(test_size=fraction)
    content = io.pacemaker_input(parameters, ['Cu'], structure_count=structures)
    assert content['data'].get('test_size', 0) == held_out


def test_held_out_count_needs_two_structures():
    with pytest.raises(ValueError, match='`test_size`: 1 structure'):
        io.held_out_count(1, 0.1)


def test_write_input_is_yaml(tmp_path):
    io.write_pacemaker_input(tmp_path / 'input.yaml', io.FIXTURE_PARAMETERS, ['Au', 'Cu'])
    assert yaml.safe_load((tmp_path / 'input.yaml').read_text()) == yaml.safe_load(
        (ACE_CUAU / 'input.yaml').read_text()
    )


def test_driver_arguments_and_time_limit():
    assert io.driver_arguments(None) == ['run_pacemaker.py', 'none', 'none', '0.0']
    assert io.driver_arguments(3240.4, 50, 0.2) == ['run_pacemaker.py', '3240', '50', '0.2']
    assert io.soft_time_limit(None) is None
    assert io.soft_time_limit(3600) == pytest.approx(3240)
    assert io.soft_time_limit(100) == pytest.approx(70)


def test_metrics_of_fixture_fit():
    tables = {name: (ACE_CUAU / name).read_text() for name in ('cycle_metrics.txt', 'test_cycle_metrics.txt')}
    metrics = io.summarise_metrics(tables)
    assert metrics['train_energy_rmse_mev_per_atom'] == pytest.approx(7.996, abs=1e-3)
    assert metrics['test_force_rmse_mev_per_angstrom'] == pytest.approx(52.398, abs=1e-3)
    assert metrics['number_of_functions'] == 48
    assert not io.has_nan_loss(metrics)
    assert io.has_nan_loss({**metrics, 'loss_per_iteration': [0.3, math.nan]})


def test_read_metrics_table_skips_cut_rows():
    rows = io.read_metrics_table('iter_num loss\n0 0.5\n1 nan\n2\n')
    assert rows[0] == {'iter_num': 0.0, 'loss': 0.5}
    assert math.isnan(rows[1]['loss'])
    assert len(rows) == 2


@pytest.mark.parametrize(
    ('status', 'stderr', 'metrics', 'label'),
    [
        ({'steps': {'pacemaker': 1}}, TRACEBACK + 'MemoryError: x\n', {}, 'ERROR_OUT_OF_MEMORY'),
        ({'steps': {'pacemaker': -9}}, '', {}, 'ERROR_OUT_OF_MEMORY'),
        ({'steps': {'pacemaker': 'timeout'}}, '', {'iterations': 12}, 'ERROR_TIME_LIMIT'),
        (None, '', {'iterations': 12}, 'ERROR_TIME_LIMIT'),
        ({'steps': {'pacemaker': 0}}, '', {'loss_per_iteration': [1.0, math.nan]}, 'ERROR_NAN_LOSS'),
        ({'steps': {'pacemaker': 1}}, TRACEBACK + 'KeyError: 3\n', {}, 'ERROR_MISSING_POTENTIAL'),
    ],
)
def test_diagnose(status, stderr, metrics, label):
    assert io.diagnose(status, stderr, '', metrics)[0] == label


def test_lower_inner_cutoff_moves_only_the_switch_to_zbl(tmp_path):
    """The switch moves below the data; at and above the old ``r_in`` the potential is the same."""
    from ase import Atoms
    from pyace import PyACECalculator
    from pyace.basis import BBasisConfiguration

    fitted_path = Path(__file__).parent / 'fixtures' / 'success' / 'output_potential.yaml'
    fitted = fitted_path.read_text()
    lowered = io.lower_inner_cutoff(fitted, 0.2)
    before = [line for line in fitted.splitlines() if 'r_in:' in line]
    after = [line for line in lowered.splitlines() if 'r_in:' in line]
    assert len(before) == len(after) == 4
    for old, new in zip(before, after):
        assert float(new.split(':')[1]) == pytest.approx(float(old.split(':')[1]) - 0.2)
    assert [line for line in fitted.splitlines() if 'r_in:' not in line] == [
        line for line in lowered.splitlines() if 'r_in:' not in line
    ]
    assert io.DRIVER_SCRIPT.count('def lower_inner_cutoff') == 1  # the job runs this very function

    (tmp_path / 'lowered.yaml').write_text(lowered)
    calculators = [PyACECalculator(BBasisConfiguration(str(path))) for path in (fitted_path, tmp_path / 'lowered.yaml')]
    r_in = max(float(line.split(':')[1]) for line in before)
    for distance in (r_in, r_in + 0.3, 3.0, 4.5):
        dimer = Atoms('CuAu', positions=[[0, 0, 0], [distance, 0, 0]], cell=[20, 20, 20], pbc=True)
        energies = []
        for calculator in calculators:
            dimer.calc = calculator
            energies.append(dimer.get_potential_energy())
        assert energies[0] == pytest.approx(energies[1], abs=1e-12)
