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
