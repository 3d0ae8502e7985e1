"""Measure converged plane-wave cutoffs for the Debian LDA pseudopotential set.

For each element a two-atom bulk cell with one atom displaced (so that forces are non-zero) is
computed with ``pw.x`` at increasing ``ecutwfc`` (``ecutrho`` = 4x for norm-conserving, 8x for
ultrasoft files), against a reference at a much higher cutoff (100 Ry for ultrasoft, 70 Ry for norm-conserving
files, 140 Ry for Debian's semicore Ti). The recommended cutoffs are the
lowest that meet a tolerance on the energy per atom and on every force component:

* ``normal`` (protocols ``balanced``): 1 meV/atom and 10 meV/A.
* ``low`` (protocol ``fast``): 5 meV/atom and 25 meV/A; the errors it costs are printed.
* ``high`` (protocol ``stringent``): ``normal`` plus 25 %, rounded up to 5 Ry.

Usage::

    python benchmarks/pseudo_cutoffs.py [--elements Al Cu] [--write]

``--write`` stores the table in the package (``pseudos/debian_lda.json``), which is what
``mlip-autopipe setup`` attaches to the pseudo family, and in ``docs/cutoffs_table.rst``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import tempfile
import time
from pathlib import Path

import ase.io
from ase.build import bulk

from aiida_mlip_autopipe.pseudos import DEBIAN_LDA_FILES, DEBIAN_PSEUDO_DIR, pseudo_is_norm_conserving

ROOT = Path(__file__).resolve().parents[1]
TABLE_JSON = ROOT / 'src' / 'aiida_mlip_autopipe' / 'pseudos' / 'debian_lda.json'
TABLE_RST = ROOT / 'docs' / 'cutoffs_table.rst'

#: Prototype and (roughly LDA) lattice parameters of the test cells.
CELLS = {
    'Al': ('fcc', {'a': 3.99}),
    'Au': ('fcc', {'a': 4.06}),
    'Cu': ('fcc', {'a': 3.52}),
    'Fe': ('bcc', {'a': 2.76}),
    'Mg': ('hcp', {'a': 3.13, 'c': 5.08}),
    'Ni': ('fcc', {'a': 3.42}),
    'Si': ('diamond', {'a': 5.40}),
    'Ti': ('hcp', {'a': 2.87, 'c': 4.55}),
}
MAGNETIC = {'Fe': 2.5, 'Ni': 0.7}
TOLERANCES = {'normal': (1.0, 10.0), 'low': (5.0, 25.0)}  # meV/atom, meV/A
CUTOFFS_NC = [12, 16, 20, 24, 28, 32, 36, 40, 50]
CUTOFFS_US = [20, 25, 30, 35, 40, 45, 50, 55, 60, 70, 80, 90, 100, 110]
REFERENCE = {'nc': 70, 'us': 100}
#: Elements whose energy is not converged to 1 meV/atom below the usual reference.
HARD_REFERENCE = {'Ti': 140}


def test_cell(element: str):
    """Return the displaced two-atom cell used for ``element``."""
    prototype, lattice = CELLS[element]
    atoms = bulk(element, prototype, **lattice)
    if len(atoms) == 1:
        atoms = atoms.repeat((2, 1, 1))
    atoms.positions[0] += (0.06, 0.04, 0.03)
    if element in MAGNETIC:
        atoms.set_initial_magnetic_moments([MAGNETIC[element]] * len(atoms))
    return atoms


def run_pw(atoms, element: str, ecutwfc: float, dual: int, workdir: Path):
    """Run one ``pw.x`` SCF and return the ASE atoms read back from its output."""
    system = {
        'ecutwfc': ecutwfc,
        'ecutrho': ecutwfc * dual,
        'occupations': 'smearing',
        'smearing': 'mv',
        'degauss': 0.02,
    }
    if element in MAGNETIC:
        system['nspin'] = 2
    input_data = {
        'control': {
            'calculation': 'scf',
            'pseudo_dir': DEBIAN_PSEUDO_DIR,
            'tprnfor': True,
            'disk_io': 'none',
            'outdir': str(workdir),
        },
        'system': system,
        'electrons': {'conv_thr': 1e-9, 'mixing_beta': 0.3},
    }
    pw_in = workdir / f'pw_{ecutwfc}.in'
    pw_out = workdir / f'pw_{ecutwfc}.out'
    ase.io.write(
        pw_in,
        atoms,
        format='espresso-in',
        input_data=input_data,
        pseudopotentials={element: DEBIAN_LDA_FILES[element]},
        kspacing=0.35,
    )
    env = dict(os.environ, OMP_NUM_THREADS='1')
    with pw_out.open('w') as handle:
        subprocess.run(['pw.x', '-in', str(pw_in)], stdout=handle, stderr=subprocess.STDOUT, check=True, env=env)
    return ase.io.read(pw_out, format='espresso-out')


def converge_element(element: str) -> dict:
    """Scan the cutoffs of one element and return its row of the table."""
    norm_conserving = pseudo_is_norm_conserving(Path(DEBIAN_PSEUDO_DIR) / DEBIAN_LDA_FILES[element])
    kind = 'nc' if norm_conserving else 'us'
    dual = 4 if norm_conserving else 8
    reference_cutoff = HARD_REFERENCE.get(element, REFERENCE[kind])
    atoms = test_cell(element)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        reference = run_pw(atoms, element, reference_cutoff, dual, workdir)
        e_ref = reference.get_potential_energy() / len(atoms)
        f_ref = reference.get_forces()
        scan = []
        for ecutwfc in (c for c in (CUTOFFS_NC if norm_conserving else CUTOFFS_US) if c < reference_cutoff):
            result = run_pw(atoms, element, ecutwfc, dual, workdir)
            scan.append(
                {
                    'ecutwfc': ecutwfc,
                    'energy_error_mev_atom': abs(result.get_potential_energy() / len(atoms) - e_ref) * 1000,
                    'force_error_mev_a': float(abs(result.get_forces() - f_ref).max() * 1000),
                }
            )
    row = {
        'file': DEBIAN_LDA_FILES[element],
        'type': kind,
        'dual': dual,
        'reference_ecutwfc': reference_cutoff,
        'max_reference_force_ev_a': float(abs(f_ref).max()),
        'scan': scan,
        'seconds': round(time.perf_counter() - start, 1),
    }
    for stringency, (tol_e, tol_f) in TOLERANCES.items():
        point = next(
            (p for p in scan if p['energy_error_mev_atom'] <= tol_e and p['force_error_mev_a'] <= tol_f),
            None,
        )
        if point is None:
            raise RuntimeError(f'{element}: no cutoff below the reference meets {tol_e} meV/atom, {tol_f} meV/A')
        row[stringency] = {
            'cutoff_wfc': point['ecutwfc'],
            'cutoff_rho': point['ecutwfc'] * dual,
            'energy_error_mev_atom': round(point['energy_error_mev_atom'], 3),
            'force_error_mev_a': round(point['force_error_mev_a'], 2),
        }
    high = 5 * math.ceil(row['normal']['cutoff_wfc'] * 1.25 / 5)
    row['high'] = {'cutoff_wfc': high, 'cutoff_rho': high * dual}
    return row


def rst_table(table: dict) -> str:
    """Return the cutoff table as reStructuredText."""
    lines = [
        '.. list-table:: Recommended cutoffs (Ry) of the Debian LDA family, measured by '
        '``benchmarks/pseudo_cutoffs.py``',
        '   :header-rows: 1',
        '',
        '   * - element',
        '     - file',
        '     - fast: wfc / rho (error meV/atom, meV/Å)',
        '     - balanced: wfc / rho (error meV/atom, meV/Å)',
        '     - stringent: wfc / rho',
    ]
    for element, row in sorted(table.items()):
        low, normal, high = row['low'], row['normal'], row['high']
        lines += [
            f'   * - {element}',
            f'     - ``{row["file"]}``',
            f'     - {low["cutoff_wfc"]} / {low["cutoff_rho"]} '
            f'({low["energy_error_mev_atom"]:.2f}, {low["force_error_mev_a"]:.1f})',
            f'     - {normal["cutoff_wfc"]} / {normal["cutoff_rho"]} '
            f'({normal["energy_error_mev_atom"]:.2f}, {normal["force_error_mev_a"]:.1f})',
            f'     - {high["cutoff_wfc"]} / {high["cutoff_rho"]}',
        ]
    return '\n'.join(lines) + '\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--elements', nargs='+', default=sorted(DEBIAN_LDA_FILES))
    parser.add_argument('--write', action='store_true', help='store the table in the package and the docs')
    args = parser.parse_args()

    table = json.loads(TABLE_JSON.read_text()) if TABLE_JSON.exists() else {}
    for element in args.elements:
        row = converge_element(element)
        table[element] = row
        normal, low = row['normal'], row['low']
        print(
            f'{element:3s} {row["file"]:28s} balanced {normal["cutoff_wfc"]:3d}/{normal["cutoff_rho"]:4d} Ry'
            f'  fast {low["cutoff_wfc"]:3d} Ry ({low["energy_error_mev_atom"]:.2f} meV/atom, '
            f'{low["force_error_mev_a"]:.1f} meV/A)  [{row["seconds"]} s]',
            flush=True,
        )
        if args.write:
            TABLE_JSON.write_text(json.dumps(table, indent=2, sort_keys=True) + '\n')
    if args.write:
        TABLE_RST.write_text(rst_table(table))


if __name__ == '__main__':
    main()
