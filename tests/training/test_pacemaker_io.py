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


#: pacemaker's ``input.yaml`` for a new linear-embedding Cu-Au basis of 30 functions per element with the
#: fit parameters' defaults and no test split, written by hand from pacemaker's input-file documentation
#: (docs/pacemaker/inputfile.md): a linear embedding is FinnisSinclairShiftedScaled with one density and
#: ``fs_parameters: [1, 1]``; ``kappa`` is the weight of the forces; energies are fitted relative to
#: pacemaker's ``auto`` reference energies; the default basis shape is the one documented in training.rst.
EXPECTED_NEW_BASIS = """
cutoff: 5.0
seed: 42
metadata: {origin: aiida-mlip-autopipe}
potential:
  deltaSplineBins: 0.001
  elements: [Au, Cu]
  embeddings:
    ALL: {npot: FinnisSinclairShiftedScaled, fs_parameters: [1, 1], ndensity: 1}
  bonds:
    ALL: {radbase: SBessel, radparameters: [5.25], rcut: 5.0, dcut: 0.01, NameOfCutoffFunction: cos}
  functions:
    number_of_functions_per_element: 30
    UNARY: {nradmax_by_orders: [15, 6, 4, 3, 2, 2], lmax_by_orders: [0, 3, 3, 2, 2, 1]}
    BINARY: {nradmax_by_orders: [15, 6, 3, 2, 2, 1], lmax_by_orders: [0, 3, 2, 1, 1, 0]}
    TERNARY: {nradmax_by_orders: [15, 3, 3, 2, 1], lmax_by_orders: [0, 2, 2, 1, 1]}
    ALL: {nradmax_by_orders: [15, 3, 2, 1, 1], lmax_by_orders: [0, 2, 2, 1, 1]}
data:
  filename: data.pckl.gzip
  reference_energy: auto
fit:
  loss: {kappa: 0.3, L1_coeffs: 1.0e-8, L2_coeffs: 1.0e-8}
  optimizer: BFGS
  maxiter: 100
  repulsion: auto
backend: {evaluator: tensorpot, batch_size: 100, display_step: 10}
"""


def test_input_new_basis_and_continuation(tmp_path):
    parameters = io.PacemakerParameters(number_of_functions_per_element=30, embedding='linear', test_size=0.0)
    io.write_pacemaker_input(tmp_path / 'input.yaml', parameters, ['Cu', 'Au', 'Cu'])
    assert yaml.safe_load((tmp_path / 'input.yaml').read_text()) == yaml.safe_load(EXPECTED_NEW_BASIS)

    # a continuation names the previous potential instead of a basis; given reference energies are written as such;
    # the non-linear embedding has two densities (rho_1 + rho_2^0.5) and a test split is a number of structures
    changed = parameters.model_copy(
        update={'embedding': 'finnis_sinclair', 'force_weight': 0.8, 'test_size': 0.2, 'maxiter': 7, 'seed': 3}
    )
    continued = io.pacemaker_input(
        changed,
        ['Au', 'Cu'],
        potential_filename='previous.yaml',
        reference_energies={'Cu': -2.0, 'Au': -1.0},
        structure_count=12,
    )
    assert continued['potential'] == 'previous.yaml'
    assert continued['data'] == {
        'filename': 'data.pckl.gzip',
        'reference_energy': {'Au': -1.0, 'Cu': -2.0},
        'test_size': 2,
    }
    assert continued['fit']['loss']['kappa'] == 0.8 and continued['fit']['maxiter'] == 7 and continued['seed'] == 3
    nonlinear = io.pacemaker_input(changed, ['Au', 'Cu'])['potential']['embeddings']['ALL']
    assert nonlinear == {'npot': 'FinnisSinclairShiftedScaled', 'fs_parameters': [1, 1, 1, 0.5], 'ndensity': 2}
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
    assert io.driver_arguments(None) == ['run_pacemaker.py', 'none', 'none', '0.0', 'none']
    assert io.driver_arguments(3240.4, 50, 0.2, 4000000) == ['run_pacemaker.py', '3240', '50', '0.2', '4000000']
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
        # a SIGKILL is an out-of-memory kill only with evidence from the driver's memory record
        ({'steps': {'pacemaker': -9}}, '', {}, 'ERROR_KILLED'),
        ({'steps': {'pacemaker': 137}, 'memory': {'peak_rss_kb': 10**6, 'limit_kb': 10**7}}, '', {}, 'ERROR_KILLED'),
        (
            {'steps': {'pacemaker': -9}, 'memory': {'peak_rss_kb': 10**6, 'limit_kb': 2 * 10**7, 'oom_kills': 0}},
            '',
            {},
            'ERROR_KILLED',
        ),
        (
            {'steps': {'pacemaker': -9}, 'memory': {'peak_rss_kb': 10**6, 'limit_kb': 10**7, 'oom_kills': 1}},
            '',
            {},
            'ERROR_OUT_OF_MEMORY',
        ),
        (
            {'steps': {'pacemaker': -9}, 'memory': {'peak_rss_kb': 95 * 10**4, 'limit_kb': 10**6}},
            '',
            {},
            'ERROR_OUT_OF_MEMORY',
        ),
        (
            {'steps': {'pacemaker': -15}, 'memory': {'peak_rss_kb': 10**6, 'limit_kb': 10**6}},
            '',
            {},
            'ERROR_OUT_OF_MEMORY',
        ),
        ({'steps': {'pacemaker': -15}}, '', {'iterations': 4}, 'ERROR_KILLED'),
        ({'steps': {'pacemaker': 'timeout'}}, '', {'iterations': 12}, 'ERROR_TIME_LIMIT'),
        (None, '', {'iterations': 12}, 'ERROR_TIME_LIMIT'),
        ({'steps': {'pacemaker': 0}}, '', {'loss_per_iteration': [1.0, math.nan]}, 'ERROR_NAN_LOSS'),
        ({'steps': {'pacemaker': 1}}, TRACEBACK + 'KeyError: 3\n', {}, 'ERROR_MISSING_POTENTIAL'),
    ],
)
def test_diagnose(status, stderr, metrics, label):
    assert io.diagnose(status, stderr, '', metrics)[0] == label


def test_killed_detail_says_what_was_recorded():
    status = {
        'steps': {'pacemaker': -9},
        'memory': {'peak_rss_kb': 2 * 1024**2, 'limit_kb': 16 * 1024**2, 'oom_kills': 0},
    }
    label, detail = io.diagnose(status, '', '', {'iterations': 7})
    assert label == 'ERROR_KILLED'
    assert detail == (
        'pacemaker was killed (SIGKILL) after 7 iterations without evidence of running out of memory (peak memory '
        '2.00 GiB of a 16.00 GiB limit, 0 out-of-memory kill(s) in its cgroup): a scheduler, a user or the system '
        'stopped it'
    )
    status['memory']['oom_kills'] = 1
    assert io.diagnose(status, '', '', {})[1].startswith(
        "pacemaker was killed (SIGKILL): the kernel's out-of-memory killer acted in the job's memory cgroup"
    )


@pytest.mark.parametrize(
    ('cgroup', 'files', 'expected'),
    [
        # cgroup v1 (this kind of machine): the memory controller's own line and folder
        (
            '4:memory:/jobs/42\n0::/\n',
            {
                'memory/jobs/42/memory.limit_in_bytes': '1073741824\n',
                'memory/jobs/42/memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n',
            },
            {'limit_kb': 1048576, 'oom_kills': 3},
        ),
        # v1 without a limit: the kernel writes a huge number
        (
            '4:memory:/\n',
            {'memory/memory.limit_in_bytes': '9223372036854771712\n', 'memory/memory.oom_control': 'oom_kill 0\n'},
            {'limit_kb': None, 'oom_kills': 0},
        ),
        # cgroup v2 (a Slurm job's cgroup)
        (
            '0::/system.slice/slurmstepd.scope/job_7\n',
            {
                'system.slice/slurmstepd.scope/job_7/memory.max': '2147483648\n',
                'system.slice/slurmstepd.scope/job_7/memory.events': 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n',
            },
            {'limit_kb': 2097152, 'oom_kills': 1},
        ),
        (
            '0::/user.slice\n',
            {'user.slice/memory.max': 'max\n', 'user.slice/memory.events': 'oom_kill 0\n'},
            {'limit_kb': None, 'oom_kills': 0},
        ),
        ('0::/\n', {}, {'limit_kb': None, 'oom_kills': None}),  # no memory cgroup to read
    ],
)
def test_cgroup_memory_reads_v1_and_v2(tmp_path, cgroup, files, expected):
    (tmp_path / 'cgroup').write_text(cgroup)
    for name, text in files.items():
        (tmp_path / 'fs' / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / 'fs' / name).write_text(text)
    assert io.cgroup_memory(str(tmp_path / 'cgroup'), str(tmp_path / 'fs')) == expected


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


def test_weighting_off_by_default_and_written_as_pacemaker_reads_it(tmp_path):
    assert io.PacemakerParameters().weighting is None
    assert 'weighting' not in io.pacemaker_input(io.PacemakerParameters(), ['Cu'])['fit']

    parameters = io.PacemakerParameters(seed=7, weighting={'de': 0.5, 'df_up': 30.0, 'nfit': 50, 'wlow': 0.8})
    io.write_pacemaker_input(tmp_path / 'input.yaml', parameters, ['Au', 'Cu'])
    weighting = yaml.safe_load((tmp_path / 'input.yaml').read_text())['fit']['weighting']
    assert weighting == {
        'type': 'EnergyBasedWeightingPolicy',
        'energy': 'convex_hull',
        'DElow': 1.0,
        'DEup': 1000.0,
        'DE': 0.5,
        'DF': 1.0,
        'DFup': 30.0,
        'wlow': 0.8,
        'nfit': 50,
        'reftype': 'all',
        'seed': 7,  # the fit's seed unless the weighting has its own
    }
    own_seed = io.PacemakerParameters(seed=7, weighting={'seed': 3, 'energy': 'cohesive'})
    assert io.pacemaker_input(own_seed, ['Cu'])['fit']['weighting']['seed'] == 3
    assert io.pacemaker_input(own_seed, ['Cu'])['fit']['weighting']['energy'] == 'cohesive'


def test_weighting_defaults_drop_no_structure():
    """pacemaker drops structures at or above DEup, with a force above DFup, and beyond nfit: none by default."""
    weighting = io.pacemaker_input(io.PacemakerParameters(weighting={}), ['Cu'])['fit']['weighting']
    assert 'nfit' not in weighting  # pacemaker then takes the size of the data set
    assert 'DFup' not in weighting  # pacemaker then removes no structure for its forces
    assert weighting['DEup'] >= 1000.0  # eV/atom above the lowest: no labelled structure is that high
    assert weighting['wlow'] is None  # no re-balancing that would favour the few structures above DElow


@pytest.mark.parametrize(
    ('weighting', 'message'),
    [
        ({'DEup': 5.0}, '`parameters.weighting.DEup`: Extra inputs are not permitted'),
        ({'energy': 'hull'}, "`parameters.weighting.energy`: Input should be 'convex_hull' or 'cohesive'"),
        ({'de': 0.0}, '`parameters.weighting.de`: Input should be greater than 0'),
        ({'nfit': 0}, '`parameters.weighting.nfit`: Input should be greater than or equal to 1'),
        ({'de_low': 2.0, 'de_up': 1.0}, '`de_up` (1.0) must be larger than `de_low` (2.0)'),
    ],
)
def test_weighting_errors_name_the_field(weighting, message):
    assert message in parameters_error({'weighting': weighting})


def test_default_basis_shape_is_written():
    functions = io.pacemaker_input(io.PacemakerParameters(number_of_functions_per_element=30), ['Au', 'Cu'])[
        'potential'
    ]['functions']
    assert functions == {
        'number_of_functions_per_element': 30,
        'UNARY': {'nradmax_by_orders': [15, 6, 4, 3, 2, 2], 'lmax_by_orders': [0, 3, 3, 2, 2, 1]},
        'BINARY': {'nradmax_by_orders': [15, 6, 3, 2, 2, 1], 'lmax_by_orders': [0, 3, 2, 1, 1, 0]},
        'TERNARY': {'nradmax_by_orders': [15, 3, 3, 2, 1], 'lmax_by_orders': [0, 2, 2, 1, 1]},
        'ALL': {'nradmax_by_orders': [15, 3, 2, 1, 1], 'lmax_by_orders': [0, 2, 2, 1, 1]},
    }


def test_basis_shape_replaces_the_default_and_reaches_pyace():
    from pyace.multispecies_basisextension import create_multispecies_basis_config

    shape = {'ALL': {'nradmax_by_orders': [8], 'lmax_by_orders': [0]}}
    parameters = io.PacemakerParameters(basis_shape=shape, number_of_functions_per_element=1000)
    potential = io.pacemaker_input(parameters, ['Cu', 'Au'])['potential']
    assert potential['functions'] == {'number_of_functions_per_element': 1000, **shape}
    # pair functions only, n = 1..8 for each of the 2 neighbour species of each of the 2 central species
    assert create_multispecies_basis_config(potential).total_number_of_functions == 8 * 2 * 2
    assert io.basis_shape_error(parameters, ['Au', 'Cu']) is None

    binary = io.PacemakerParameters(basis_shape={'ALL': {'nradmax_by_orders': [4, 2], 'lmax_by_orders': [0, 1]}})
    functions = io.pacemaker_input(binary, ['Cu'])['potential']['functions']
    assert set(functions) == {'number_of_functions_per_element', 'ALL'}  # UNARY etc. of the default are gone


def test_basis_shape_beyond_pacemakers_white_list_is_refused():
    """The default's UNARY shape is fine for one element but not as the shape of binary blocks."""
    unary_shape = {'nradmax_by_orders': [15, 6, 4, 3, 2, 2], 'lmax_by_orders': [0, 3, 3, 2, 2, 1]}
    parameters = io.PacemakerParameters(basis_shape={'ALL': unary_shape})
    assert io.basis_shape_error(parameters, ['Cu']) is None
    error = io.basis_shape_error(parameters, ['Cu', 'Au'])
    assert error.startswith('`parameters.basis_shape`: pyace cannot build this basis for Au, Cu:')
    assert 'white-list' in error


@pytest.mark.parametrize(
    ('shape', 'message'),
    [
        (
            {'UNARY': {'nradmax_by_orders': [4], 'lmax_by_orders': [0]}},
            '`parameters.basis_shape`: Value error, give an `ALL` shape',
        ),
        ({'ALL': {'nradmax_by_orders': [4, 2], 'lmax_by_orders': [0]}}, 'must have one entry per rank each'),
        ({'ALL': {'nradmax_by_orders': [4], 'lmax_by_orders': [1]}}, 'the first entry (rank 1, pair functions)'),
        ({'ALL': {'nradmax_by_orders': [4, 0], 'lmax_by_orders': [0, 1]}}, 'must be at least 1'),
        ({'ALL': {'nradmax_by_orders': [2] * 7, 'lmax_by_orders': [0] * 7}}, 'give 1 to 6 entries'),
        ({'PAIRS': {'nradmax_by_orders': [4], 'lmax_by_orders': [0]}}, '`parameters.basis_shape.PAIRS.[key]`'),
        ({'ALL': {'nradmax_by_orders': [4], 'lmax_by_orders': [0], 'nradbase': 4}}, 'Extra inputs'),
    ],
)
def test_basis_shape_errors_name_the_field(shape, message):
    assert message in parameters_error({'basis_shape': shape})


def _frames_arrays(compositions, energies_per_atom, natoms=4):
    """Return (numbers, natoms, energies) of configurations of ``natoms`` atoms with ``compositions`` Au atoms."""
    import numpy as np

    numbers = np.concatenate([[79] * n_au + [29] * (natoms - n_au) for n_au in compositions])
    return numbers, [natoms] * len(compositions), [natoms * value for value in energies_per_atom]


@pytest.mark.parametrize(
    ('compositions', 'energies', 'expected'),
    [
        ([1, 1, 1], [0.0, 0.1, 0.3], True),  # one composition: pacemaker uses cohesive energies itself
        ([0, 1], [0.0, 0.1], False),  # two points cannot make a 2-d hull
        ([0, 1, 2], [0.0, 0.1, 0.2], False),  # three points on a line: a flat simplex
        ([0, 1, 2], [0.0, 0.1, 0.05], True),
        ([0, 0, 4, 2, 2], [0.0, 0.2, -0.1, -0.3, -0.2], True),
    ],
)
def test_convex_hull_possible_agrees_with_qhull(compositions, energies, expected):
    """The check agrees with SciPy's Qhull on the points pacemaker gives it (Au fraction, energy per atom)."""
    import numpy as np
    from scipy.spatial import ConvexHull, QhullError

    assert io.convex_hull_possible(*_frames_arrays(compositions, energies)) == expected
    if len(set(compositions)) > 1:
        try:
            ConvexHull(np.column_stack([np.asarray(compositions) / 4, energies]))
            built = True
        except QhullError:
            built = False
        assert built == expected


def test_dataset_summary_counts_and_weights():
    import numpy as np
    import pandas as pd

    fit = pd.DataFrame(
        {
            'name': ['data.pckl.gzip:4', 'data.pckl.gzip:0', 'data.pckl.gzip:2'],
            'w_energy': [0.5, 0.3, 0.2],
            'w_forces': [np.array([0.1, 0.2]), np.array([0.05, 0.3]), np.array([0.15, 0.2])],
        }
    )
    test = pd.DataFrame({'name': ['data.pckl.gzip:1'], 'w_energy': [1.0], 'w_forces': [np.array([1.0])]})
    assert io.dataset_summary(6, fit, test) == {
        'fit_structure_count': 3,
        'test_structure_count': 1,
        'dropped_structures': [3, 5],
        'energy_weight_spread': pytest.approx(0.5 / 0.2),
        'force_weight_spread': pytest.approx(0.3 / 0.05),
    }
    alone = io.dataset_summary(3, fit)
    assert 'test_structure_count' not in alone
    assert alone['dropped_structures'] == [1]


def test_metrics_without_test_split_have_no_test_keys():
    tables = {name: (ACE_CUAU / name).read_text() for name in ('cycle_metrics.txt',)}
    metrics = io.summarise_metrics(tables)
    assert metrics['train_force_rmse_mev_per_angstrom'] > 0
    assert not [key for key in metrics if key.startswith('test_')]


def test_fit_summary_line():
    from aiida_mlip_autopipe.training.workchain import fit_summary

    assert fit_summary({'test_energy_rmse_mev_per_atom': 1.234, 'test_force_rmse_mev_per_angstrom': 56.78}) == (
        'test RMSE: energy 1.23 meV/atom, forces 56.8 meV/A'
    )
    assert fit_summary(
        {
            'train_energy_rmse_mev_per_atom': 2.0,
            'train_force_rmse_mev_per_angstrom': 40.0,
            'dropped_structures': [3, 7],
        }
    ) == (
        'train RMSE: energy 2.00 meV/atom, forces 40.0 meV/A (no test split); pacemaker left out 2 structure(s): [3, 7]'
    )


def test_a_singular_active_set_after_the_force_filter_is_retried_on_every_atom(tmp_path):
    """The refit of a quaternary campaign: the filtered environments are singular, all of them are not."""
    import shutil
    import subprocess

    from aiida_mlip_autopipe.setup import default_executable

    fixture = Path(__file__).parent / 'fixtures' / 'activeset_singular'
    for name in ('output_potential.yaml', 'fitting_data_info.pckl.gzip'):
        shutil.copy(fixture / name, tmp_path / name)
    command = [
        str(Path(default_executable('pacemaker')).parent / 'pace_activeset'),
        '-d',
        'fitting_data_info.pckl.gzip',
    ]
    filtered = subprocess.run([*command, 'output_potential.yaml'], cwd=tmp_path, capture_output=True, text=True)
    assert filtered.returncode != 0 and not (tmp_path / 'output_potential.asi').exists()
    assert io.activeset_needs_all_atoms(filtered.stdout + filtered.stderr)
    every = subprocess.run(
        [*command, '--all-atoms', 'output_potential.yaml'], cwd=tmp_path, capture_output=True, text=True
    )
    assert every.returncode == 0 and (tmp_path / 'output_potential.asi').exists()
    # the job's driver retries on it
    assert "if activeset_needs_all_atoms(Path('activeset.log').read_text()):" in io.DRIVER_SCRIPT
    assert not io.activeset_needs_all_atoms('ValueError: could not read dataset')
