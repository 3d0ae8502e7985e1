"""The shared helpers of ``common/`` that the stages compose (no profile, no code)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aiida_mlip_autopipe.common.composition import site_counts
from aiida_mlip_autopipe.common.duplicates import descriptor_duplicates
from aiida_mlip_autopipe.common.errors import format_validation_error
from aiida_mlip_autopipe.common.mappings import deep_merge
from aiida_mlip_autopipe.common.sampling import farthest_point_sampling


def test_descriptor_duplicates_keep_the_first_and_compare_within_a_group():
    rows = np.array([[0.0], [0.5], [0.05], [0.0], [3.0]])
    assert descriptor_duplicates(rows, 0.1) == {2: (0, pytest.approx(0.05)), 3: (0, 0.0)}
    # at the tolerance is a duplicate, beyond it is not
    assert set(descriptor_duplicates(rows, 0.5)) == {1, 2, 3}
    # only rows of one group are compared: row 3 is alone in its group
    assert set(descriptor_duplicates(rows, 0.1, groups=['a', 'a', 'a', 'b', 'a'])) == {2}
    # another distance: the root-mean-square over the features of two-feature rows
    rms = descriptor_duplicates(
        np.array([[0.0, 0.0], [0.3, 0.0]]), 0.25, distance=lambda rows, row: np.sqrt(np.mean((rows - row) ** 2, axis=1))
    )
    assert rms == {1: (0, pytest.approx(0.3 / np.sqrt(2)))}
    assert descriptor_duplicates(np.zeros((0, 3)), 0.1) == {} == descriptor_duplicates([], 0.1)


def test_farthest_point_sampling_from_a_given_first_row_never_picks_a_row_twice():
    points = np.array([[0.0], [0.0], [0.0], [5.0]])
    selected, distances = farthest_point_sampling(points, 3, first=3)
    assert selected == [3, 0, 1]  # the identical rows 0 and 1 are both taken, each once
    assert distances.tolist() == [0.0, 0.0, 0.0, 0.0]
    selected, distances = farthest_point_sampling(np.array([[0.0], [1.0], [4.0]]), 1, first=0)
    assert selected == [0] and distances.tolist() == [0.0, 1.0, 4.0]


def test_site_counts_by_largest_remainder():
    assert site_counts({'Cu': 2 / 3, 'Au': 1 / 3}, 32) == {'Cu': 21, 'Au': 11}
    assert site_counts({'Cu': 0.5, 'Ag': 0.25, 'Au': 0.25}, 6) == {'Cu': 3, 'Ag': 2, 'Au': 1}  # tie: earlier


class _Settings(BaseModel):
    model_config = ConfigDict(extra='forbid')
    steps: int = Field(1, ge=1)

    @field_validator('steps')
    @classmethod
    def _even(cls, value):
        if value % 2:
            raise ValueError('give an even number')
        return value


def test_validation_errors_name_the_field_below_a_prefix():
    with pytest.raises(ValidationError) as error:
        _Settings(steps=3, stepz=1)
    assert format_validation_error(error.value, 'parameters') == (
        '`parameters.steps`: give an even number; `parameters.stepz`: Extra inputs are not permitted'
    )
    assert format_validation_error(error.value, strip_value_error=False).startswith(
        '`steps`: Value error, give an even number'
    )


def test_deep_merge_changes_neither_argument():
    base = {'pw': {'parameters': {'SYSTEM': {'ecutwfc': 40}}, 'settings': {'a': 1}}, 'kpoints_distance': 0.3}
    override = {'pw': {'parameters': {'SYSTEM': {'ecutrho': 320}}}, 'kpoints_distance': 0.2}
    merged = deep_merge(base, override)
    assert merged == {
        'pw': {'parameters': {'SYSTEM': {'ecutwfc': 40, 'ecutrho': 320}}, 'settings': {'a': 1}},
        'kpoints_distance': 0.2,
    }
    merged['pw']['parameters']['SYSTEM']['ecutrho'] = 1
    merged['pw']['settings']['a'] = 2
    assert override['pw']['parameters']['SYSTEM'] == {'ecutrho': 320} and base['pw']['settings'] == {'a': 1}


def test_screening_rejects_every_candidate_when_none_passes_the_filters():
    """Every candidate too close: each is rejected with its reason (the duplicate search gets no rows)."""
    from aiida_mlip_autopipe.screening.selection import ScreeningThresholds, screen

    close = bulk('Cu', 'fcc', a=3.6, cubic=True)
    close.positions[1] = close.positions[0] + [1.0, 0.0, 0.0]
    close.calc = SinglePointCalculator(close, energy=-10.0, forces=np.zeros((4, 3)))
    result = screen({'a': close}, {'a': [0.0]}, ScreeningThresholds())
    assert result.selected == [] and 'closer than the minimum distance' in result.rejected['a']
