"""How well a periodic fragment stands in for its large MD frame: tapered against untapered cuts.

For the last frame of every exploration ``candidates`` trajectory of a campaign (512-atom cells with
``exploration.label_atoms``), fragments of 8 and 16 atoms are cut around its atoms of largest gamma
(``fragments_of``, 3 per frame), each once as the selection cuts it (the centre's first shell keeps its
displacements, the rest sits on its sites: the taper) and once with every atom displaced as in the frame
(``first_shell=inf``). CHGNet (the screening stage's surrogate, run by its own Python) stands in for DFT:
it is only used to compare cuts. Printed per cut: the error of the centre atom's force against the
centre's force in the whole frame, and the largest force component in the fragment.

Usage, in the profile of a finished campaign with fragments::

    verdi -p <profile> run benchmarks/fragment_taper.py <campaign pk>
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
from aiida_mlip_autopipe.exploration.fragments import cut_fragment
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


def candidate_frames(campaign: orm.Node) -> list:
    """Return the last frame of each exploration trajectory under ``campaign`` that carries its starting sites."""
    arrays = {}
    for process in campaign.called_descendants:
        for array in process.base.links.get_outgoing(orm.ArrayData).all_nodes():
            if 'sites' in array.get_arraynames():
                arrays[array.pk] = array  # a trajectory is returned by its calculation and each work chain above
    frames = [frames_from_arrays(trajectory_arrays(arrays[pk]))[-1] for pk in sorted(arrays)]
    return frames


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('campaign', type=int)
    parser.add_argument('--per-frame', type=int, default=3)
    args = parser.parse_args()
    frames = candidate_frames(orm.load_node(args.campaign))
    # cases: (cut, index of its frame in structures, centre in the frame, centre in the fragment)
    structures, cases = [], []
    for frame in frames:
        structures.append(frame)
        frame_index = len(structures) - 1
        for size in (8, 16):
            for tapered in fragments_of(frame, size, 0.0, args.per_frame):
                info = tapered.info['fragment']
                untapered = cut_fragment(frame, info['repeats'], frame.arrays['site'], info['centre'], size, np.inf)
                for name, fragment in ((f'{size} atoms, untapered', untapered), (f'{size} atoms, tapered', tapered)):
                    structures.append(fragment)
                    cases.append((name, frame_index, info['centre'], info['atoms'].index(info['centre'])))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        plain = [Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=True) for atoms in structures]
        write(path / 'structures.xyz', plain)
        (path / 'forces.py').write_text(SURROGATE_FORCES)
        command = [default_executable('surrogate'), path / 'forces.py', path / 'structures.xyz', path / 'forces.npz']
        subprocess.run(command, check=True, env={'PATH': '/usr/bin:/bin', 'OMP_NUM_THREADS': '2'})
        stored = np.load(path / 'forces.npz')
        forces = [stored[f'arr_{index}'] for index in range(len(structures))]
    # structures hold each frame followed by its fragments, in the order of `cases`
    rows, centre_forces = {}, []
    for index, (name, frame_index, centre, inside) in enumerate(cases):
        fragment_forces = forces[frame_index + 1 + sum(1 for other in cases[:index] if other[1] == frame_index)]
        frame_forces = forces[frame_index]
        error = np.linalg.norm(fragment_forces[inside] - frame_forces[centre])
        rows.setdefault(name, []).append((error, np.abs(fragment_forces).max()))
        centre_forces.append(np.linalg.norm(frame_forces[centre]))
    print(f'{len(frames)} frames of campaign {args.campaign}; CHGNet forces (a stand-in for DFT, to compare cuts)')
    print(f'{"fragment":26s} {"centre force error (eV/A)":>28s} {"largest force component (eV/A)":>33s}')
    print(f'{"":26s} {"mean":>10s} {"max":>9s} {"":8s} {"mean":>10s} {"max":>9s}')
    for name in sorted(rows, key=lambda name: (int(name.split()[0]), 'untapered' not in name)):
        values = np.array(rows[name])
        error, largest = values[:, 0], values[:, 1]
        print(f'{name:26s} {error.mean():10.3f} {error.max():9.3f} {"":8s} {largest.mean():10.2f} {largest.max():9.2f}')
    average = np.mean(centre_forces)
    print(f"({len(rows[name])} fragments per cut; the centre atom's force in the frame: {average:.2f} eV/A on average)")


if __name__ == '__main__':
    main()
