"""Composition points of a campaign: a binary range, or a sampling of the simplex of three or more elements.

Pure functions on element lists and ``{element: fraction}`` points (every element of the campaign
present, zeros included, fractions rounded to 10 digits), used by the campaign file
(:class:`~.config.CampaignConfig`), the app's composition picture and the documentation.

The simplex sampling of ``n`` elements at density

* 1: the ``n`` end members, the equiatomic point of each of the ``n(n-1)/2`` pairs (the edges'
  midpoints) and the centre (the equiatomic point of all ``n``);
* 2: also, for each element, the point halfway from the centre to its end member (rich in that
  element: ``(2/3, 1/6, 1/6)`` in a ternary);
* 3: also the quarter points of each pair (``(3/4, 1/4)``), the equiatomic point of every three
  elements (with four or more) and the points halfway from the centre to each pair's equiatomic point.

=========  =====  =====  =====  =====  =====
elements       2      3      4      5      6
=========  =====  =====  =====  =====  =====
density 1    (3)      7     11     16     22
density 2    (5)     10     15     21     28
density 3    (5)     19     37     61     93
=========  =====  =====  =====  =====  =====

(A binary keeps its ``composition`` range; the numbers in brackets are what the same rule would give.)
"""

from __future__ import annotations

import itertools

#: Largest number of elements of a campaign: an ACE basis of n elements has n 2^(n-1) blocks (192 for six).
MAX_ELEMENTS = 6
#: Densities of the simplex sampling (0: no grid, only explicit points).
GRID_DENSITIES = (0, 1, 2, 3)
#: Two points closer than this in every fraction are the same point.
_SAME = 1e-9


def _point(elements: list[str], fractions: dict[str, float]) -> dict[str, float]:
    """Return ``fractions`` over every element of ``elements`` (zeros included), rounded to 10 digits."""
    return {element: round(float(fractions.get(element, 0.0)), 10) + 0.0 for element in elements}


def _equiatomic(elements: list[str], subset) -> dict[str, float]:
    return {element: 1.0 / len(subset) if element in subset else 0.0 for element in elements}


def _halfway(elements: list[str], first: dict[str, float], second: dict[str, float]) -> dict[str, float]:
    return {element: (first[element] + second[element]) / 2 for element in elements}


def same_point(first: dict[str, float], second: dict[str, float]) -> bool:
    """Return whether two composition points agree in every fraction (absent elements count zero)."""
    return all(abs(first.get(element, 0.0) - second.get(element, 0.0)) <= _SAME for element in set(first) | set(second))


def unique_points(points) -> list[dict[str, float]]:
    """Return ``points`` without repeats, first occurrence kept."""
    kept: list[dict[str, float]] = []
    for point in points:
        if not any(same_point(point, seen) for seen in kept):
            kept.append(point)
    return kept


def simplex_points(elements: list[str], density: int) -> list[dict[str, float]]:
    """Return the simplex sampling of ``elements`` at ``density`` (see the module text), in a fixed order:
    end members, pairs, centre, then the points each higher density adds."""
    if density not in GRID_DENSITIES:
        raise ValueError(f'density {density} is not one of {", ".join(map(str, GRID_DENSITIES))}')
    if density == 0:
        return []
    elements = list(elements)
    centre = _equiatomic(elements, elements)
    ends = [_equiatomic(elements, [element]) for element in elements]
    pairs = [_equiatomic(elements, pair) for pair in itertools.combinations(elements, 2)]
    points = [*ends, *pairs, centre]
    if density >= 2:
        points += [_halfway(elements, centre, end) for end in ends]
    if density >= 3:
        for first, second in itertools.combinations(elements, 2):
            points += [{first: 0.75, second: 0.25}, {first: 0.25, second: 0.75}]
        if len(elements) >= 4:
            points += [_equiatomic(elements, triple) for triple in itertools.combinations(elements, 3)]
        points += [_halfway(elements, centre, pair) for pair in pairs]
    return unique_points(_point(elements, point) for point in points)


def binary_points(elements: list[str], fractions: list[float]) -> list[dict[str, float]]:
    """Return the points of a binary with the given fractions of its last element."""
    first, last = elements
    return [{first: round(1.0 - x, 10), last: x} for x in fractions]


def point_label(point: dict[str, float]) -> str:
    """Return a short label of a point, e.g. ``Cu0.5Au0.5`` (elements with a zero fraction left out)."""
    return ''.join(f'{element}{fraction:.3g}' for element, fraction in point.items() if fraction > _SAME)


def ternary_xy(point: dict[str, float], elements: list[str]) -> tuple[float, float]:
    """Return the position of a point of three elements in a triangle with corners ``elements[0]`` at (0, 0),
    ``elements[1]`` at (1, 0) and ``elements[2]`` at (1/2, sqrt(3)/2)."""
    _, b, c = (point.get(element, 0.0) for element in elements)
    return b + c / 2, c * 3**0.5 / 2


def plot_compositions(points: list[dict[str, float]], elements: list[str], ax, title: str | None = None):
    """Draw the composition points of ``elements`` on the matplotlib axes ``ax``.

    A binary is drawn on a line, a ternary in a triangle (interior points labelled with their percentages
    in the order of ``elements``), four or more
    elements as one bar per point of its fractions (a colour per element).
    """
    if len(elements) == 3:
        corners = [(0.0, 0.0), (1.0, 0.0), (0.5, 3**0.5 / 2)]
        ax.plot(*zip(*corners, corners[0]), color='0.4', lw=1)
        for (x, y), element, offset in zip(corners, elements, ((-0.07, -0.06), (0.02, -0.06), (-0.03, 0.03))):
            ax.annotate(element, (x, y), xytext=(x + offset[0], y + offset[1]), fontsize=12, fontweight='bold')
        for point in points:
            x, y = ternary_xy(point, elements)
            ax.scatter([x], [y], s=40, color='tab:blue', zorder=3)
            if sum(value > _SAME for value in point.values()) == 3:
                label = ':'.join(f'{100 * point[element]:.0f}' for element in elements)
                ax.annotate(label, (x, y), xytext=(0, -10), textcoords='offset points', fontsize=6.5, ha='center')
        ax.set_xlim(-0.1, 1.1)
        ax.set_ylim(-0.1, 0.95)
        ax.set_aspect('equal')
        ax.axis('off')
    elif len(elements) == 2:
        xs = [point[elements[1]] for point in points]
        ax.plot([0, 1], [0, 0], color='0.4', lw=1)
        ax.scatter(xs, [0] * len(xs), s=40, color='tab:blue', zorder=3)
        ax.set_yticks([])
        ax.set_xlim(-0.05, 1.05)
        ax.set_xlabel(f'x in {elements[0]}(1-x) {elements[1]}(x)')
        for side in ('left', 'right', 'top'):
            ax.spines[side].set_visible(False)
    else:
        left = [0.0] * len(points)
        for element in elements:
            widths = [point.get(element, 0.0) for point in points]
            ax.barh(range(len(points)), widths, left=left, label=element)
            left = [a + b for a, b in zip(left, widths)]
        ax.set_yticks(range(len(points)))
        ax.set_yticklabels([point_label(point) for point in points], fontsize=6)
        ax.invert_yaxis()
        ax.set_xlabel('atomic fraction')
        ax.legend(ncols=len(elements), fontsize=7, loc='lower center', bbox_to_anchor=(0.5, 1.0))
    if title:
        ax.set_title(title, fontsize=10, pad=18 if len(elements) > 3 else 4)
    return ax


def composition_png(points: list[dict[str, float]], elements: list[str], title: str | None = None) -> bytes:
    """Return the picture of :func:`plot_compositions` as PNG bytes (a matplotlib ``Figure``, no pyplot state)."""
    import io

    from matplotlib.figure import Figure

    if len(elements) == 3:
        size = (4.6, 4.2)
    elif len(elements) == 2:
        size = (5.0, 1.6)
    else:
        size = (6.0, 1.4 + 0.16 * len(points))
    figure = Figure(figsize=size, layout='constrained')
    plot_compositions(points, elements, figure.add_subplot(), title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', dpi=110)
    return buffer.getvalue()
