"""A quaternary campaign at minimal size on the real codes (pacemaker, lmp) with the EMT labeller: one iteration.

Run alone with ``bash scripts/run_tests.sh -m campaign``.
"""

from __future__ import annotations

import math

import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_mlip_autopipe.campaign.config import campaign_from_dict
from aiida_mlip_autopipe.campaign.rules import COMPOSITION_TOLERANCE
from aiida_mlip_autopipe.campaign.workchain import ActiveLearningWorkChain
from aiida_mlip_autopipe.setup import CODES, default_executable, ensure_code

pytestmark = pytest.mark.campaign

ELEMENTS = ['Cu', 'Ag', 'Au', 'Ni']


@pytest.fixture(scope='module')
def stage_codes(localhost):
    return {
        label: ensure_code(label, localhost, CODES[label][0], default_executable(label))
        for label in ('pacemaker', 'lmp', 'python')
    }


def composition_distance(point: dict, other: dict) -> float:
    return max(abs(point.get(element, 0.0) - other.get(element, 0.0)) for element in set(point) | set(other))


def test_quaternary_campaign_explores_every_point_and_validates_each_pair(stage_codes):
    campaign = campaign_from_dict(
        {
            'name': 'cuagauni-emt-test',
            'elements': ELEMENTS,
            'composition_grid': {'density': 1},  # 11 points: 4 end members, 6 pairs, the centre
            'temperature': {'min': 300, 'max': 600, 'points': 2},
            'protocol': 'fast',
            'labeller': 'emt',
            'seed': 5,
            'targets': {'force_rmse_mev_a': 1.0, 'high_gamma_fraction': 0.0},  # unreachable: the budget ends it
            'budgets': {'iterations': 1, 'dft_calculations': 200, 'wall_time_hours': 1.0},
            'exploration': {'temperature_points': 1, 'steps': 500, 'max_selected': 4, 'ramp_iterations': 1},
            # larger cells than the `fast` preset's 8 atoms: at least 32 atoms of each element for the active set
            'generation': {
                'max_atoms': 16,
                'defect_cell_atoms': 16,
                'counts': {
                    'sqs': 4,
                    'ordered': 6,
                    'strain': 8,
                    'random_strain': 6,
                    'rattle': 16,
                    'compressed': 4,
                    'antisite': 3,
                },
            },
            'validation': {'properties': ['eos', 'formation', 'md'], 'md_steps': 200, 'md_atoms': 32},
            'codes': {'pacemaker': 'pacemaker@localhost-test', 'lmp': 'lmp@localhost-test'},
        }
    )
    results, node = run_get_node(ActiveLearningWorkChain, campaign=orm.Dict(campaign.model_dump(mode='json')))
    assert node.exit_status in (401, 402), node.exit_message  # the budget ends it; validation may fail
    assert 'iteration budget spent (1 of 1)' in node.exit_message

    rows = results['summary'].get_dict()['iterations']
    assert all(math.isfinite(row['heldout_force_rmse']) for row in rows)
    # one MD cell per composition point, each near enough its point for the stop rule
    report = results['iterations']['iteration_00']['exploration_report'].get_dict()
    assert report['runs_total'] == 11
    started = [run['composition'] for run in report['runs'].values()]
    for point in campaign.compositions():
        assert min(composition_distance(point, start) for start in started) <= COMPOSITION_TOLERANCE + 1e-9, point

    potential = results['potential']
    assert sorted(potential.elements) == sorted(ELEMENTS)
    assert potential.number_of_functions == 4 * 16  # 8 blocks per element, 2 functions each

    # validated on the end members, each pair's ordered compound and the equiatomic disordered cell
    (validation,) = [child for child in node.called if child.process_label == 'ValidationWorkChain']
    (made,) = [child for child in validation.called if child.process_label == 'generate_validation_cells']
    pairs = {'Cu3Ag', 'Cu3Au', 'Cu3Ni', 'Ag3Au', 'Ag3Ni', 'Au3Ni'}
    assert set(made.outputs) == {*ELEMENTS, *pairs, 'Cu8Ag8Au8Ni8_sqs'}
    if validation.exit_status == 303:  # a one-iteration potential of four elements can lack an energy minimum
        assert 'the equation-of-state fit found no energy minimum' in validation.exit_message
        assert 'no energy minimum' in results['validation']['unusable']  # the report on the graph says it too
    else:
        cells = results['validation']['cells']
        assert set(cells) == set(made.outputs)
        for name in pairs | {'Cu8Ag8Au8Ni8_sqs'}:
            assert cells[name]['labeller']['formation_energy'] is not None, name
