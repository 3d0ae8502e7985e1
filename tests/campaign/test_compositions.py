"""The composition points of a campaign: the simplex sampling and its picture."""

from __future__ import annotations

import itertools

import pytest

from aiida_mlip_autopipe.campaign.compositions import composition_png, same_point, simplex_points

ELEMENTS = ['Cu', 'Ag', 'Au', 'Ni', 'Pd', 'Pt']


@pytest.mark.parametrize(
    ('density', 'counts'),
    [(1, [3, 7, 11, 16, 22]), (2, [5, 10, 15, 21, 28]), (3, [5, 19, 37, 61, 93])],
)
def test_number_of_points_per_density_as_documented(density, counts):
    assert [len(simplex_points(ELEMENTS[:n], density)) for n in range(2, 7)] == counts
    assert simplex_points(ELEMENTS[:3], 0) == []


@pytest.mark.parametrize('count', [3, 4, 6])
def test_points_lie_on_the_simplex_and_hold_the_corners_edges_and_centre(count):
    elements = ELEMENTS[:count]
    points = simplex_points(elements, 3)
    for point in points:
        assert list(point) == elements
        assert min(point.values()) >= 0 and sum(point.values()) == pytest.approx(1, abs=1e-9)
    assert not any(same_point(a, b) for a, b in itertools.combinations(points, 2))

    def has(fractions):
        return any(same_point(point, fractions) for point in points)

    assert all(has({element: 1.0}) for element in elements)
    assert all(has({a: 0.5, b: 0.5}) and has({a: 0.75, b: 0.25}) for a, b in itertools.permutations(elements, 2))
    assert has({element: 1 / count for element in elements})
    rich = (1 / count + 1) / 2
    assert all(
        has({other: rich if other == element else (1 - rich) / (count - 1) for other in elements})
        for element in elements
    )


def test_picture_is_a_png_of_any_number_of_elements():
    for count in (2, 3, 5):
        png = composition_png(simplex_points(ELEMENTS[:count], 1), ELEMENTS[:count], 'grid')
        assert png.startswith(b'\x89PNG')
