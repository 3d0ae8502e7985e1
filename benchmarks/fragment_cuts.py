"""How well a periodic fragment stands in for its large MD frame: tapered against untapered cuts.

For the last frame of every exploration ``candidates`` trajectory of a campaign (512-atom cells with
``exploration.label_atoms``), fragments of 8 and 16 atoms are cut around its atoms of largest gamma
(``fragments_of``, 3 per frame), each as the selection cuts it (untapered: every atom displaced as in
the frame) and tapered (``first_shell=FIRST_SHELL``: only the centre and its first shell keep their
displacements). Printed per cut:

* what active learning needs: the centre atom's extrapolation grade in the fragment, with the potential
  that ran the MD, against its grade in the frame (median ratio), and the share of fragments whose
  largest grade stays at or above 2 (a selection with ``gamma_lower`` 2 can still pick them);
* what DFT would see, with CHGNet (the screening stage's surrogate, run by its own Python) standing in
  for DFT only to compare cuts: the error of the centre atom's force against its force in the whole
  frame, and the largest force component in the fragment.

Usage, in the profile of a finished campaign with fragments::

    verdi -p <profile> run benchmarks/fragment_cuts.py <campaign pk>
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from aiida import orm
from ase import Atoms
from ase.io import write

from aiida_mlip_autopipe.common.python_task import trajectory_arrays
from aiida_mlip_autopipe.exploration.fragments import FIRST_SHELL, cut_fragment
from aiida_mlip_autopipe.exploration.selection import fragments_of, frames_from_arrays
from aiida_mlip_autopipe.setup import default_executable

SURROGATE_FORCES = """
import sys
import numpy as np
from ase.io import read
from chgnet.model import CHGNet, CHGNetCalculator
calculator = CHGNetCalculator(CHGNet.load(verbose=False), use_device='cpu')
forces = []
for atoms in read(sys.argv[1], ':'):
    atoms.calc = calculator
    forces.append(atoms.get_forces())
np.savez(sys.argv[2], *forces)
"""


def explored_frames(campaign: orm.Node) -> list:
    """Return (last frame, potential that ran it) of each exploration trajectory under ``campaign`` that carries
    its starting sites."""
    arrays = {}
    for process in campaign.called_descendants:
        for array in process.base.links.get_outgoing(orm.ArrayData).all_nodes():
            if 'sites' in array.get_arraynames():
                arrays[array.pk] = array  # a trajectory is returned by its calculation and each work chain above
    frames = []
    for pk in sorted(arrays):
        exploration = arrays[pk].creator
        while exploration.process_label != 'ExplorationWorkChain':
            exploration = exploration.caller
        frames.append((frames_from_arrays(trajectory_arrays(arrays[pk]))[-1], exploration.inputs.potential))
    return frames


def surrogate_forces(structures: list) -> list:
    """Return CHGNet's forces on ``structures``, computed by the surrogate code's own Python."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        write(path / 'structures.xyz', [Atoms(a.numbers, a.positions, cell=a.cell, pbc=True) for a in structures])
        (path / 'forces.py').write_text(SURROGATE_FORCES)
        command = [default_executable('surrogate'), path / 'forces.py', path / 'structures.xyz', path / 'forces.npz']
        subprocess.run(command, check=True, env={'PATH': '/usr/bin:/bin', 'OMP_NUM_THREADS': '2'})
        stored = np.load(path / 'forces.npz')
        return [stored[f'arr_{index}'] for index in range(len(structures))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('campaign', type=int)
    parser.add_argument('--per-frame', type=int, default=3)
    args = parser.parse_args()
    frames = explored_frames(orm.load_node(args.campaign))
    structures, cases = [], []  # cases: (cut, frame's index in structures, its centre, its index in structures)
    for frame, potential in frames:
        structures.append(frame)
        frame_index = len(structures) - 1
        calculator = potential.get_calculator(active_set=True)
        for size in (8, 16):
            for cut in fragments_of(frame, size, 0.0, args.per_frame):
                centre = cut.info['fragment']['centre']
                tapered = cut_fragment(frame, frame.info['repeats'], frame.arrays['site'], centre, size, FIRST_SHELL)
                for name, fragment in ((f'{size} atoms, untapered', cut), (f'{size} atoms, tapered', tapered)):
                    fragment.calc = calculator
                    fragment.get_potential_energy()
                    inside = fragment.info['fragment']['atoms'].index(centre)
                    gamma = calculator.results['gamma']
                    structures.append(fragment)
                    cases.append((name, frame_index, centre, len(structures) - 1, inside, gamma[inside], gamma.max()))
    forces = surrogate_forces(structures)
    rows = {}
    for name, frame_index, centre, index, inside, centre_gamma, largest_gamma in cases:
        frame = structures[frame_index]
        rows.setdefault(name, []).append(
            (
                centre_gamma / frame.arrays['gamma'][centre],
                largest_gamma >= 2.0,
                np.linalg.norm(forces[index][inside] - forces[frame_index][centre]),
                np.abs(forces[index]).max(),
            )
        )
    centre_gamma = np.median([structures[case[1]].arrays['gamma'][case[2]] for case in cases])
    print(
        f'{len(frames)} frames of campaign {args.campaign}; centre atoms: median gamma {centre_gamma:.2f} in the frame'
    )
    print(
        f'{"fragment":22s} {"centre gamma":>13s} {"max gamma":>10s} {"centre force error":>19s} {"largest force":>14s}'
    )
    print(f'{"":22s} {"/ in frame":>13s} {">= 2":>10s} {"(eV/A), CHGNet":>19s} {"(eV/A), CHGNet":>14s}')
    print(f'{"":22s} {"median":>13s} {"share":>10s} {"mean":>9s} {"max":>9s} {"mean":>6s} {"max":>7s}')
    for name, values in rows.items():
        values = np.array(values, dtype=float)
        ratio, kept, error, largest = values.T
        print(
            f'{name:22s} {np.median(ratio):13.2f} {kept.mean():10.2f} {error.mean():9.3f} {error.max():9.3f} '
            f'{largest.mean():6.2f} {largest.max():7.2f}'
        )
    print(f'({len(values)} fragments per cut)')


if __name__ == '__main__':
    main()
