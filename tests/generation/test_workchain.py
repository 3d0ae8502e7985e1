"""``StructureGenerationWorkChain`` end to end at small size, and its refusal of a bad spec."""

from __future__ import annotations

import re

import pytest

from .test_builders import small_spec


def test_workchain_end_to_end(aiida_profile):
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.generation.workchain import StructureGenerationWorkChain
    from aiida_mlip_autopipe.labelling.workchain import DftLabellingWorkChain

    spec = small_spec().model_dump(mode='json')
    results, node = run_get_node(
        StructureGenerationWorkChain, spec=orm.Dict(spec), group_label=orm.Str('test/generation')
    )
    assert node.is_finished_ok, node.exit_message
    structures = results['structures']
    summary = results['summary'].get_dict()
    assert sorted(structures) == summary['kept']
    assert all(re.fullmatch(r'[a-z_]+_\d{3}', key) for key in structures)
    methods = {structure.base.extras.get('generation_method') for structure in structures.values()}
    assert methods == {
        'bulk',
        'sqs',
        'ordered',
        'strain',
        'random_strain',
        'rattle',
        'vacancy',
        'interstitial',
        'antisite',
        'surface',
    }
    for key, structure in structures.items():
        assert structure.base.extras.get('generation_key') == key
        assert isinstance(structure.base.extras.get('generation_parameters'), dict)
        assert structure.creator is not None and structure.creator.process_type.startswith('aiida.calculations:')
    sqs = structures['sqs_000']
    assert sqs.base.extras.get('generation_parameters')['composition'] == {'Cu': 0.5, 'Au': 0.5}
    assert sorted(sqs.get_ase().get_chemical_symbols()) == ['Au'] * 4 + ['Cu'] * 4
    correlations = results['sqs_correlations']['sqs_000'].get_dict()
    assert {'objective', 'pair_mismatch', 'triplet_mismatch', 'max_pair_mismatch'} <= set(correlations)
    # a strained cell is made by a calcfunction whose input is its base cell: provenance
    strained = structures['strain_000']
    base_key = strained.base.extras.get('generation_parameters')['base']
    assert strained.creator.process_label == 'generate_distorted_structures'
    assert strained.creator.inputs[base_key].uuid == structures[base_key].uuid
    assert summary['counts']['strain'] == 4 and sum(summary['counts'].values()) == len(structures)
    group = orm.Group.collection.get(label='test/generation')
    assert {n.uuid for n in group.nodes} == {s.uuid for s in structures.values()}
    assert node.base.extras.get('group_label') == 'test/generation'
    reports = '\n'.join(log.message for log in orm.Log.collection.get_logs_for(node))
    assert 'symmetry-equivalent duplicates removed' in reports
    # exactly what the labelling takes
    builder = DftLabellingWorkChain.get_builder()
    builder.structures = dict(structures)
    assert len(builder.structures) == len(structures)


def test_workchain_refuses_bad_spec_before_running(aiida_profile):
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.generation.workchain import StructureGenerationWorkChain

    spec = small_spec().model_dump(mode='json')
    spec['counts']['surface'] = -2
    with pytest.raises(ValueError, match=r'`counts.surface`: Input should be greater than or equal to 0'):
        run_get_node(StructureGenerationWorkChain, spec=orm.Dict(spec))
