"""Every refusal of the generation spec names the field and what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_mlip_autopipe.generation.spec import GenerationSpec, validate_spec

BASE = {'elements': ['Cu', 'Au'], 'composition_range': {'element': 'Au', 'start': 0.0, 'stop': 1.0, 'num': 5}}


def spec_with(**changes) -> dict:
    values = dict(BASE)
    values.update(changes)
    return values


@pytest.mark.parametrize(
    ('changes', 'message'),
    [
        ({'elements': ['Cu', 'Xx']}, r'`elements`: unknown element\(s\) Xx'),
        (
            {'composition_range': None, 'compositions': [{'Cu': 0.5, 'Ag': 0.5}]},
            r'`compositions\[0\]`: element\(s\) Ag not in `elements`',
        ),
        (
            {'composition_range': None, 'compositions': [{'Cu': 0.5, 'Au': 0.6}]},
            r'`compositions\[0\]`: fractions sum to 1.1',
        ),
        (
            {'composition_range': {'element': 'Au', 'num': 4}},
            r'composition Cu0.666667 Au0.333333 cannot be realised with 32',
        ),
        ({'composition_range': None, 'compositions': [{'Cu': 0.9, 'Au': 0.1}]}, r'`compositions`/`sqs_sizes`'),
        ({'lattice_constants': {'fcc': 1.2}}, r'`lattice_constants.fcc`: the fcc lattice puts atoms 0.849 A apart'),
        ({'counts': {'rattle': -1}}, r'`counts.rattle`: Input should be greater than or equal to 0'),
        ({'counts': {'vacancy': -3}}, r'`counts.vacancy`: Input should be greater than or equal to 0'),
        ({'compositions': [{'Cu': 1.0}]}, r'give exactly one of `compositions` and `composition_range`'),
        ({'composition_range': None}, r'give exactly one of `compositions` and `composition_range`'),
        ({'lattices': ['fcc', 'diamond']}, r'`lattices.1`: Input should be'),
        ({'sqs_sizes': [30]}, r'cannot be realised with 30 atoms'),
        (
            {'lattices': ['hcp'], 'sqs_sizes': [9]},
            r'`sqs_sizes`: 9 atoms is not a multiple of the 2 sites of the hcp cell',
        ),
        ({'max_atoms': 16}, r'`defect_cell_atoms`: 24 exceeds `max_atoms` 16'),
        ({'sqs_sizes': [48], 'max_atoms': 40}, r'`sqs_sizes`: 48 atoms exceeds `max_atoms` 40'),
        ({'strain_range': (0.1, -0.1)}, r'`strain_range`'),
        ({'seed': -1}, r'`seed`: Input should be greater than or equal to 0'),
        ({'sqs_stepz': 10}, r'`sqs_stepz`: Extra inputs are not permitted'),
        ({'composition_range': {'element': 'Ni'}}, r'`composition_range.element`: `Ni` is not one of'),
    ],
)
def test_refusals(changes, message):
    with pytest.raises(ValueError, match=message):
        validate_spec(spec_with(**changes))


def test_unknown_reference_lattice_constant_asks_for_one():
    with pytest.raises(ValueError, match=r'no reference lattice constant for `H`.*give `lattice_constants`'):
        validate_spec({'elements': ['H', 'Cu'], 'compositions': [{'H': 0.5, 'Cu': 0.5}]})
    spec = validate_spec(
        {'elements': ['H', 'Cu'], 'compositions': [{'H': 0.5, 'Cu': 0.5}], 'lattice_constants': {'fcc': 3.6}}
    )
    assert spec.lattice_constant('fcc', {'H': 0.5, 'Cu': 0.5}) == 3.6


def test_defaults_and_derived_points():
    spec = GenerationSpec(**BASE)
    assert [point['Au'] for point in spec.composition_points()] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(spec.alloy_compositions()) == 3
    assert spec.end_members() == ['Cu', 'Au']
    assert spec.lattices == ['fcc'] and spec.sqs_sizes == [32]
    described = GenerationSpec.model_json_schema()['properties']
    assert all(field.get('description') for field in described.values())


def test_user_parent_structure():
    spec = validate_spec(
        spec_with(
            lattices=[],
            parent_structure={'name': 'sc', 'cell': (2.6 * np.eye(3)).tolist(), 'scaled_positions': [[0] * 3]},
            sqs_sizes=[8],
            counts={'sqs': 3},
        )
    )
    assert list(spec.parent_cells()) == ['sc']
    with pytest.raises(ValueError, match=r'`parent_structure`: the sc lattice puts atoms 1\.000 A apart'):
        validate_spec(
            spec_with(
                lattices=[],
                parent_structure={'name': 'sc', 'cell': np.eye(3).tolist(), 'scaled_positions': [[0] * 3]},
            )
        )


def test_docs_field_table_lists_every_field():
    """docs/generation_fields.inc is written from the model; it must not drift from it."""
    from pathlib import Path

    table = (Path(__file__).parents[2] / 'docs' / 'generation_fields.inc').read_text()
    for name, field in GenerationSpec.model_fields.items():
        assert f'``{name}' in table, name  # nested models: ``composition_range.element`` and so on
        if f'``{name}``' in table:
            assert field.description in table, name


TERNARY = {
    'elements': ['Cu', 'Ag', 'Au'],
    'compositions': [
        {'Cu': 1.0},
        {'Cu': 0.5, 'Ag': 0.5},
        {'Cu': 1 / 3, 'Ag': 1 / 3, 'Au': 1 / 3},
        {'Cu': 2 / 3, 'Ag': 1 / 6, 'Au': 1 / 6},
        {'Cu': 0.96, 'Au': 0.04},
    ],
    'sqs_sizes': [16],
    'max_atoms': 24,
}


def test_sqs_rounding_takes_the_nearest_whole_atoms_instead_of_refusing():
    with pytest.raises(ValueError, match=r'composition Cu0.333333 Ag0.333333 Au0.333333 cannot be realised with 16'):
        validate_spec(TERNARY)
    from aiida_mlip_autopipe.generation.plan import sqs_tasks

    spec = validate_spec({**TERNARY, 'sqs_rounding': True, 'counts': {'sqs': 10}})
    # 16 atoms, largest remainders: 8/8; 5.33 each -> 6/5/5; 10.67/2.67/2.67 -> 10/3/3; 15.36/0.64 -> 15/1
    assert [task['composition'] for task in sqs_tasks(spec)] == [
        {'Cu': 0.5, 'Ag': 0.5, 'Au': 0.0},
        {'Cu': 0.375, 'Ag': 0.3125, 'Au': 0.3125},
        {'Cu': 0.625, 'Ag': 0.1875, 'Au': 0.1875},
        {'Cu': 0.9375, 'Ag': 0.0, 'Au': 0.0625},
    ]
    # a point that rounds to a pure element makes no SQS
    pure = validate_spec({**TERNARY, 'sqs_rounding': True, 'compositions': [{'Cu': 0.99, 'Au': 0.01}]})
    assert sqs_tasks(pure) == []


def test_enumeration_is_capped_by_the_number_of_elements():
    assert validate_spec(BASE).enumeration_atoms() == 8  # a binary keeps its field
    ternary = validate_spec({**TERNARY, 'sqs_rounding': True})
    assert ternary.enumeration_atoms() == 6
    assert validate_spec({**TERNARY, 'sqs_rounding': True, 'enumeration_max_atoms': 4}).enumeration_atoms() == 4
    six = ['Cu', 'Ag', 'Au', 'Ni', 'Pd', 'Pt']
    assert validate_spec({'elements': six, 'compositions': [{'Cu': 1.0}]}).enumeration_atoms() == 5
