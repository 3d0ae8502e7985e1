"""Cost of a pacemaker fit by number of elements: functions, parameters, time per atom and wall time.

EMT-labelled cells of ``--elements`` (generated as a campaign would: end members, enumerated ordered
cells, SQS at the simplex points of density 1, strained and rattled copies, at most ``--max-atoms``
atoms), ``--structures`` of them drawn with a seed, are fitted by pacemaker (its own environment,
as the training stage runs it: TensorFlow takes the cores it finds) with ``--functions`` per element
for ``--maxiter`` iterations. Prints one JSON line: elements, structures, atoms, functions (total, from pacemaker's
log), parameters, pacemaker's time per atom of one loss evaluation (microseconds) and the wall time
of the fit::

    .venv/bin/python benchmarks/multielement_fit.py --elements Cu,Ag,Au --functions 40 --maxiter 50
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'src'))

from aiida_mlip_autopipe.campaign.compositions import simplex_points  # noqa: E402
from aiida_mlip_autopipe.generation.plan import generate_all  # noqa: E402
from aiida_mlip_autopipe.generation.spec import validate_spec  # noqa: E402
from aiida_mlip_autopipe.labelling.ase_labeller import label_atoms  # noqa: E402
from aiida_mlip_autopipe.setup import default_executable  # noqa: E402
from aiida_mlip_autopipe.training.pacemaker_io import (  # noqa: E402
    PacemakerParameters,
    write_pacemaker_dataframe,
    write_pacemaker_input,
)

FUNCTIONS = re.compile(r'Resulted potential contains (\d+) functions')
PARAMETERS = re.compile(r'Number of params\./funcs:\s+(\d+)/(\d+)\s+Avg\. time:\s+([0-9.]+) mcs/at')


def training_frames(elements: list[str], structures: int, max_atoms: int, seed: int):
    """Return ``structures`` EMT-labelled cells of ``elements`` (see the module text)."""
    points = simplex_points(elements, 1)
    alloys = sum(1 for point in points if sum(value > 0 for value in point.values()) > 1)
    spec = validate_spec(
        {
            'elements': elements,
            'compositions': points,
            'sqs_rounding': True,
            'sqs_sizes': [16],
            'sqs_steps': 2000,
            'max_atoms': max_atoms,
            'defect_cell_atoms': min(16, max_atoms),
            'strain_points': 4,
            'seed': seed,
            'counts': {
                'sqs': alloys,
                'ordered': 30,
                'strain': 40,
                'random_strain': 40,
                'rattle': 60,
                'vacancy': 0,
                'interstitial': 0,
                'antisite': 10,
                'surface': 0,
            },
        }
    )
    cells, _ = generate_all(spec)
    keys = sorted(cells)
    chosen = np.random.default_rng(seed).permutation(len(keys))[:structures]
    return label_atoms([cells[keys[index]] for index in sorted(chosen)], 'emt')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--elements', default='Cu,Ag,Au')
    parser.add_argument('--functions', type=int, default=40, help='number_of_functions_per_element')
    parser.add_argument('--maxiter', type=int, default=50)
    parser.add_argument('--structures', type=int, default=80)
    parser.add_argument('--max-atoms', type=int, default=16)
    parser.add_argument('--seed', type=int, default=0)
    arguments = parser.parse_args()
    elements = arguments.elements.split(',')
    frames = training_frames(elements, arguments.structures, arguments.max_atoms, arguments.seed)
    parameters = PacemakerParameters(
        number_of_functions_per_element=arguments.functions, maxiter=arguments.maxiter, test_size=0.0, seed=42
    )
    python = Path(default_executable('pacemaker'))
    with tempfile.TemporaryDirectory() as folder:
        write_pacemaker_dataframe(frames, Path(folder) / 'data.pckl.gzip')
        write_pacemaker_input(Path(folder) / 'input.yaml', parameters, elements)
        began = time.monotonic()
        run = subprocess.run(
            [str(python.parent / 'pacemaker'), 'input.yaml', '--no-predict'],
            cwd=folder,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - began
        log = (Path(folder) / 'log.txt').read_text() if (Path(folder) / 'log.txt').exists() else run.stderr
    if run.returncode:
        raise SystemExit(f'pacemaker exited {run.returncode}: {run.stderr[-2000:]}')
    functions = [int(value) for value in FUNCTIONS.findall(log)]
    timings = PARAMETERS.findall(log)
    per_atom = [float(value) for *_, value in timings if float(value) > 0]
    print(
        json.dumps(
            {
                'elements': elements,
                'structures': len(frames),
                'atoms': int(sum(len(atoms) for atoms in frames)),
                'functions_per_element': arguments.functions,
                'functions': functions[-1] if functions else None,
                'parameters': int(timings[-1][0]) if timings else None,
                'microseconds_per_atom': per_atom[-1] if per_atom else None,
                'maxiter': arguments.maxiter,
                'wall_s': round(wall, 1),
            }
        )
    )


if __name__ == '__main__':
    main()
