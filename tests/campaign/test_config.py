"""The campaign file: presets fill what is left out, and each wrong field is named."""

from __future__ import annotations

import pytest

from aiida_mlip_autopipe.campaign.config import CampaignError, campaign_from_dict, load_campaign

MINIMAL = {'name': 'cuau', 'elements': ['Cu', 'Au']}


def test_minimal_file_is_filled_from_the_protocol():
    config = campaign_from_dict(MINIMAL | {'protocol': 'fast'})
    assert config.dft.protocol == 'fast'
    assert config.exploration.max_selected == 8
    assert config.budgets.iterations == 3
    assert config.codes.pw == 'pw@localhost'
    assert config.compositions() == [{'Cu': 1.0, 'Au': 0.0}, {'Cu': 0.5, 'Au': 0.5}, {'Cu': 0.0, 'Au': 1.0}]
    assert config.temperature.values() == [300.0, 750.0, 1200.0]


def test_user_values_win_over_the_preset():
    config = campaign_from_dict(
        MINIMAL | {'protocol': 'fast', 'exploration': {'steps': 500}, 'budgets': {'iterations': 1}}
    )
    assert config.exploration.steps == 500
    assert config.exploration.gamma_upper == 10.0  # rest of the section from the preset
    assert config.budgets.iterations == 1 and config.budgets.dft_calculations == 60


def test_example_campaign_file_is_valid():
    from pathlib import Path

    config = load_campaign(Path(__file__).parents[2] / 'examples' / 'campaign_cuau.yaml')
    assert config.elements == ['Cu', 'Au']


@pytest.mark.parametrize(
    ('data', 'message'),
    [
        ({'elements': ['Cu', 'Xx']}, 'field `elements`: unknown element(s) Xx'),
        ({'elements': []}, 'field `elements`: List should have at least 1 item'),
        ({'protocol': 'precise'}, 'field `protocol`: `precise` is not one of fast, balanced, stringent'),
        ({'labeller': 'vasp'}, "field `labeller`: Input should be 'qe' or 'emt'"),
        ({'temperature': {'min': 900, 'max': 300}}, 'field `temperature`: max (300.0) must not be below min (900.0)'),
        ({'composition': {'max': 1.5}}, 'field `composition.max`: Input should be less than or equal to 1'),
        ({'exploration': {'gamma_lower': 5, 'gamma_upper': 2}}, 'gamma_upper (2.0) must exceed gamma_lower (5.0)'),
        ({'budgets': {'iterations': 0}}, 'field `budgets.iterations`: Input should be greater than or equal to 1'),
        ({'dft': {'max_concurent': 2}}, 'field `dft.max_concurent`: unknown field; allowed here: protocol, overrides'),
        ({'temprature': {}}, 'field `temprature`: unknown field; allowed here: name, elements, composition'),
        ({'targets': {'force_rmse_mev_a': -1}}, 'field `targets.force_rmse_mev_a`: Input should be greater than 0'),
    ],
)
def test_wrong_field_is_named_with_what_is_allowed(data, message):
    with pytest.raises(CampaignError) as error:
        campaign_from_dict(MINIMAL | data)
    assert message in str(error.value)


def test_not_a_mapping_and_not_yaml(tmp_path):
    with pytest.raises(CampaignError, match='top level must be a mapping'):
        campaign_from_dict(['Cu'])
    path = tmp_path / 'bad.yaml'
    path.write_text('name: [unclosed')
    with pytest.raises(CampaignError, match='is not valid YAML'):
        load_campaign(path)


def test_override_sections_keep_only_what_was_given():
    """The stages' protocols fill the rest; an explicit null (weighting off) survives the stored round trip."""
    from aiida_mlip_autopipe.campaign.config import fit_parameters

    data = MINIMAL | {
        'protocol': 'balanced',
        'dft': {
            'overrides': {'kpoints_distance': 0.4, 'spin': None, 'pw': {'parameters': {'SYSTEM': {'degauss': 0.01}}}}
        },
        'fit': {'overrides': {'pacemaker': {'parameters': {'maxiter': 7, 'weighting': None}}}},
        'validation': {'tolerances': {'elastic': 0.2}},
    }
    stored = campaign_from_dict(data).model_dump(mode='json')
    assert stored['dft']['overrides'] == {'kpoints_distance': 0.4, 'pw': {'parameters': {'SYSTEM': {'degauss': 0.01}}}}
    assert stored['dft']['options'] == {}
    assert stored['fit']['overrides'] == {'pacemaker': {'parameters': {'maxiter': 7, 'weighting': None}}}
    assert stored['validation']['tolerances'] == {'elastic': 0.2}
    config = campaign_from_dict(stored)
    assert config.model_dump(mode='json') == stored
    parameters = fit_parameters(config)
    # the balanced fit protocol weights by energy and fits 100 functions; the override switched weighting off
    assert parameters['weighting'] is None and parameters['maxiter'] == 7
    assert parameters['number_of_functions_per_element'] == 100
    assert parameters['seed'] == 0 and parameters['test_size'] == 0.0  # the campaign's seed, its own held-out set


def test_generation_spec_takes_the_chemistry_from_the_campaign():
    config = campaign_from_dict(
        MINIMAL | {'protocol': 'fast', 'seed': 5, 'composition': {'min': 0.25, 'max': 0.75, 'points': 3}}
    )
    spec = config.generation_spec()
    assert spec['elements'] == ['Cu', 'Au'] and spec['seed'] == 5
    assert spec['composition_range'] == {'element': 'Au', 'start': 0.25, 'stop': 0.75, 'num': 3}
    assert spec['max_atoms'] == 8 and spec['counts']['rattle'] == 3  # the fast preset
    assert spec['counts']['surface'] == 0 and spec['surface_thickness'] == 7.0  # preset, GenerationSpec default
    single = campaign_from_dict({'name': 'cu', 'elements': ['Cu'], 'protocol': 'fast'}).generation_spec()
    assert single['compositions'] == [{'Cu': 1.0}] and 'composition_range' not in single


def test_check_offline_needs_no_profile(tmp_path):
    from click.testing import CliRunner

    from aiida_mlip_autopipe.cli import cli

    path = tmp_path / 'campaign.yaml'
    path.write_text('name: x\nelements: [Cu, Au]\nprotocol: fast\ngeneration: {counts: {rattle: -1}}\n')
    result = CliRunner().invoke(cli, ['check', '--offline', str(path)])
    assert result.exit_code == 1
    assert 'field `generation.counts.rattle`: Input should be greater than or equal to 0' in result.output
    path.write_text('name: x\nelements: [Cu, Au]\nprotocol: fast\n')
    result = CliRunner().invoke(cli, ['check', '--offline', str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        'fields      ok: campaign `x`, Cu, Au, protocol fast',
        'resources   not checked (--offline)',
    ]


@pytest.mark.parametrize('protocol', ['fast', 'balanced', 'stringent'])
@pytest.mark.parametrize('elements', [['Cu'], ['Cu', 'Au']])
def test_every_preset_passes_the_whole_check(protocol, elements):
    """The presets fill generation, fit and the rest so that the cross-section checks hold."""
    config = campaign_from_dict({'name': 'x', 'elements': elements, 'protocol': protocol})
    assert config.generation_spec()['max_atoms'] == {'fast': 8, 'balanced': 32, 'stringent': 64}[protocol]


TERNARY = {'name': 'cuagau', 'elements': ['Cu', 'Ag', 'Au'], 'protocol': 'fast'}


def test_three_elements_sample_the_simplex():
    config = campaign_from_dict(TERNARY)
    points = config.compositions()
    assert len(points) == 10  # density 2: 3 end members, 3 pairs, the centre, 3 points towards the end members
    assert points[:3] == [
        {'Cu': 1.0, 'Ag': 0.0, 'Au': 0.0},
        {'Cu': 0.0, 'Ag': 1.0, 'Au': 0.0},
        {'Cu': 0.0, 'Ag': 0.0, 'Au': 1.0},
    ]
    assert {'Cu': 0.5, 'Ag': 0.0, 'Au': 0.5} in points
    assert {'Cu': 0.3333333333, 'Ag': 0.3333333333, 'Au': 0.3333333333} in points
    assert {'Cu': 0.1666666667, 'Ag': 0.6666666667, 'Au': 0.1666666667} in points
    coarse = campaign_from_dict(TERNARY | {'composition_grid': {'density': 1}})
    assert len(coarse.compositions()) == 7
    added = campaign_from_dict(
        TERNARY | {'composition_grid': {'density': 1}, 'composition_points': [{'Cu': 0.8, 'Au': 0.2}, {'Cu': 1.0}]}
    )
    # explicit points are added (missing elements zero), those already on the grid once
    assert added.compositions() == [*coarse.compositions(), {'Cu': 0.8, 'Ag': 0.0, 'Au': 0.2}]
    only = campaign_from_dict(
        TERNARY | {'composition_grid': {'density': 0}, 'composition_points': [{'Cu': 0.2, 'Ag': 0.3, 'Au': 0.5}]}
    )
    assert only.compositions() == [{'Cu': 0.2, 'Ag': 0.3, 'Au': 0.5}]
    quaternary = campaign_from_dict(
        TERNARY | {'elements': ['Ni', 'Pd', 'Pt', 'Cu'], 'composition_grid': {'density': 1}}
    )
    assert len(quaternary.compositions()) == 11 and quaternary.compositions()[-1] == {
        e: 0.25 for e in ('Ni', 'Pd', 'Pt', 'Cu')
    }


def test_the_stored_campaign_validates_again():
    """The work chain validates the dumped campaign (every field filled): it must be accepted as it is."""
    for data in (TERNARY, MINIMAL | {'protocol': 'fast'}, MINIMAL | {'composition_points': [{'Cu': 0.25, 'Au': 0.75}]}):
        config = campaign_from_dict(data)
        again = campaign_from_dict(config.model_dump(mode='json'))
        assert again.compositions() == config.compositions()
    binary = campaign_from_dict(MINIMAL | {'composition_points': [{'Cu': 0.25, 'Au': 0.75}]})
    assert binary.compositions()[-1] == {'Cu': 0.25, 'Au': 0.75} and len(binary.compositions()) == 4


@pytest.mark.parametrize(
    ('data', 'message'),
    [
        (
            {'composition_points': [{'Cu': 0.5, 'Ag': 0.5}, {'Cu': 0.5, 'Au': 0.5}, {'Cu': 0.5, 'Zr': 0.5}]},
            'field `composition_points[2].Zr`: `Zr` is not one of `elements` (Cu, Ag, Au)',
        ),
        (
            {'composition_points': [{'Cu': 1.2, 'Ag': -0.2}]},
            'field `composition_points[0].Ag`: fraction -0.2 lies outside the simplex; give 0 to 1',
        ),
        (
            {'composition_points': [{'Cu': 0.5}, {'Cu': 0.5, 'Ag': 0.4}]},
            'field `composition_points[0]`: fractions sum to 0.5, not 1',
        ),
        ({'composition': {'points': 5}}, 'field `composition`: (min, max, points) is for two elements; with 3 give'),
        (
            {'composition_grid': {'density': 4}},
            'field `composition_grid.density`: Input should be less than or equal to 3',
        ),
        ({'composition_grid': {'density': 0}}, 'field `composition_points`: `composition_grid.density` is 0'),
        (
            {'elements': ['Cu', 'Ag', 'Au', 'Ni', 'Pd', 'Pt', 'Fe']},
            'field `elements`: 7 elements; a campaign takes 1 to 6',
        ),
    ],
)
def test_wrong_composition_points_are_named_with_their_path(data, message):
    with pytest.raises(CampaignError) as error:
        campaign_from_dict(TERNARY | data)
    assert message in str(error.value)
    if 'sum to 0.5' in message:  # every wrong point is named, not only the first
        assert 'field `composition_points[1]`: fractions sum to 0.9, not 1' in str(error.value)


def test_a_binary_refuses_the_simplex_grid():
    with pytest.raises(CampaignError, match=r'field `composition_grid`: for three or more elements; with 2 give'):
        campaign_from_dict(MINIMAL | {'composition_grid': {'density': 1}})
