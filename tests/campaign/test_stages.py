"""How the campaign calls the stages for three or more elements (the binary calls are those of test_campaign_emt)."""

from __future__ import annotations

from aiida_mlip_autopipe.campaign import stages
from aiida_mlip_autopipe.campaign.config import campaign_from_dict

TERNARY = {'name': 'cuagau', 'elements': ['Cu', 'Ag', 'Au'], 'labeller': 'emt'}


def test_generation_of_a_ternary_covers_every_composition_point(aiida_profile):
    from aiida_mlip_autopipe.generation.plan import generate_all
    from aiida_mlip_autopipe.generation.spec import validate_spec

    balanced = stages.generation_builder(campaign_from_dict(TERNARY)).spec.get_dict()
    assert balanced['sqs_rounding'] is True and balanced['counts'] == {'sqs': 7}  # one per alloy point
    assert len(balanced['compositions']) == 10 and 'composition_range' not in balanced
    config = campaign_from_dict(
        TERNARY
        | {
            'protocol': 'fast',
            'composition_grid': {'density': 1},
            'generation': {'sqs_sizes': [12], 'max_atoms': 12, 'counts': {'sqs': 4, 'ordered': 6, 'antisite': 3}},
        }
    )
    spec = stages.generation_builder(config).spec.get_dict()
    assert spec['counts']['sqs'] == 4  # the campaign file's count wins
    structures, summary = generate_all(validate_spec(spec))
    sqs = sorted(structures[key].get_chemical_formula() for key in structures if key.startswith('sqs_'))
    assert sqs == ['Ag4Au4Cu4', 'Ag6Au6', 'Ag6Cu6', 'Au6Cu6']  # the centre and the three pairs, 12 atoms each
    ordered = {frozenset(structures[key].get_chemical_symbols()) for key in structures if key.startswith('ordered_')}
    assert len(ordered) >= 2  # spread over the pairs and the triple
    assert summary['counts']['antisite'] == 3
    # a binary is called as before: its range
    binary = stages.generation_builder(campaign_from_dict({'name': 'cuau', 'elements': ['Cu', 'Au']})).spec.get_dict()
    assert binary['composition_range'] == {'element': 'Au', 'start': 0.0, 'stop': 1.0, 'num': 3}
    assert 'sqs_rounding' not in binary and 'compositions' not in binary


def test_validation_of_a_ternary_takes_the_equiatomic_disordered_cell():
    ternary = campaign_from_dict(TERNARY)
    assert stages.validation_compositions(ternary) == [{'Cu': 0.3333333333, 'Ag': 0.3333333333, 'Au': 0.3333333333}]
    binary = campaign_from_dict({'name': 'cuau', 'elements': ['Cu', 'Au'], 'composition': {'points': 5}})
    assert stages.validation_compositions(binary) == binary.compositions()
