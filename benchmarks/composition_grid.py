"""Picture of the composition grids of a campaign: a ternary at densities 1, 2 and 3 (the docs' figure).

Draws :func:`aiida_mlip_autopipe.campaign.compositions.simplex_points` of Cu, Ag, Au side by side, the
points a campaign file with ``elements: [Cu, Ag, Au]`` and ``composition_grid: {density: d}`` explores::

    .venv/bin/python benchmarks/composition_grid.py [--png docs/_static/composition_grid.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'src'))

from aiida_mlip_autopipe.campaign.compositions import plot_compositions, simplex_points  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--png', default=str(ROOT / 'docs' / '_static' / 'composition_grid.png'))
    parser.add_argument('--elements', default='Cu,Ag,Au')
    arguments = parser.parse_args()
    from matplotlib.figure import Figure

    elements = arguments.elements.split(',')
    if len(elements) != 3:
        raise SystemExit('give three elements')
    figure = Figure(figsize=(12.0, 4.2), layout='constrained')
    for index, density in enumerate((1, 2, 3), start=1):
        points = simplex_points(elements, density)
        plot_compositions(points, elements, figure.add_subplot(1, 3, index), f'density {density}: {len(points)} points')
    figure.savefig(arguments.png, dpi=110)
    print(arguments.png)


if __name__ == '__main__':
    main()
