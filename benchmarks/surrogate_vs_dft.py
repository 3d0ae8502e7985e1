"""Surrogate (CHGNet) time per structure against pw.x time per structure, on the same cells, in one run.

Nine 4-atom Cu-Au cells (Cu, Cu3Au, CuAu; each ideal and rattled by 0.05 and 0.1 A, seeded) are
screened with ``SurrogateScreeningWorkChain`` and labelled with ``DftLabellingWorkChain``
(protocol ``fast``, one pw.x process, one structure at a time). Both codes run through AiiDA on
the same computer with ``OMP_NUM_THREADS=1``. Printed: per-structure model time and end-to-end
time (wall clock of the work chain over the number of cells) of both, and how close the
surrogate's forces and relative energies come to the DFT ones.

Usage (in the profile of ``make setup``, or any profile: the computer, codes and pseudo family
are registered when missing)::

    verdi run benchmarks/surrogate_vs_dft.py [--repeat 2]

``--repeat 2`` uses 2x2x2 supercells (32 atoms) instead.
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np
from aiida import load_profile, orm
from aiida.engine import run_get_node
from ase.build import bulk


def pw_cpu_seconds(calculation) -> float:
    """Return the CPU seconds pw.x reports for itself (``PWSCF : 1m 5.12s CPU ...``) in its retrieved output."""
    text = calculation.outputs.retrieved.base.repository.get_object_content('aiida.out')
    match = re.search(r'PWSCF\s*:\s*(.+?)CPU', text)
    units = {'d': 86400.0, 'h': 3600.0, 'm': 60.0, 's': 1.0}
    return sum(float(value) * units[unit] for value, unit in re.findall(r'([\d.]+)([dhms])', match.group(1)))


def cells(repeat: int = 1) -> dict:
    """Return the benchmark cells by key: three compositions, each ideal and rattled twice (seeded)."""
    frames = {}
    for name, lattice, gold in (('cu', 3.60, []), ('cu3au', 3.75, [0]), ('cuau', 3.85, [0, 1])):
        base = bulk('Cu', 'fcc', a=lattice, cubic=True)
        base.symbols[gold] = 'Au'
        base = base.repeat(repeat)
        for amplitude, seed in ((0.0, 0), (0.05, 1), (0.1, 2)):
            atoms = base.copy()
            if amplitude:
                atoms.rattle(amplitude, seed=seed)
            frames[f'{name}_r{int(amplitude * 100):02d}'] = atoms
    return frames


def codes():
    """Return the surrogate code, the pw code and the pseudo family, registering them if needed."""
    from aiida_mlip_autopipe.pseudos import install_pseudo_family
    from aiida_mlip_autopipe.setup import default_executable, ensure_code, ensure_localhost

    computer = ensure_localhost(mpiprocs=1)
    surrogate = ensure_code('surrogate', computer, 'mlip_autopipe.surrogate', default_executable('surrogate'))
    pw = ensure_code('pw', computer, 'quantumespresso.pw', default_executable('pw'))
    return surrogate, pw, install_pseudo_family()


def main(repeat: int = 1) -> dict:
    """Run both stages on the same cells and print the comparison; return the figures."""
    from aiida_mlip_autopipe.labelling.workchain import DftLabellingWorkChain
    from aiida_mlip_autopipe.screening.workchain import SurrogateScreeningWorkChain

    surrogate_code, pw_code, family = codes()
    frames = cells(repeat)
    structures = {key: orm.StructureData(ase=atoms) for key, atoms in frames.items()}
    count = len(structures)
    natoms = len(next(iter(frames.values())))

    start = time.perf_counter()
    screened, screening = run_get_node(
        SurrogateScreeningWorkChain, structures=structures, code=surrogate_code, min_distance=orm.Float(1.0)
    )
    surrogate_wall = time.perf_counter() - start
    assert screening.is_finished_ok, screening.exit_message
    summary = screened['surrogate_labels'].creator.outputs.output_parameters.get_dict()

    start = time.perf_counter()
    labelled, labelling = run_get_node(
        DftLabellingWorkChain,
        structures=structures,
        code=pw_code,
        pseudo_family=orm.Str(family.label),
        protocol=orm.Str('fast'),
        max_concurrent=orm.Int(1),
        # this benchmark repeats labels on purpose: do not reuse cached pw.x runs
        metadata={'disable_cache': True},
    )
    dft_wall = time.perf_counter() - start
    assert labelling.is_finished_ok, labelling.exit_message
    pw_runs = [
        node for node in labelling.called_descendants if node.process_label == 'PwCalculation' and node.is_finished_ok
    ]
    pw_seconds = [node.outputs.output_parameters['wall_time_seconds'] for node in pw_runs]
    pw_cpu = [pw_cpu_seconds(node) for node in pw_runs]

    surrogate = {atoms.info['config_type']: atoms for atoms in screened['surrogate_labels'].iter_atoms()}
    dft = {atoms.info['config_type']: atoms for atoms in labelled['training_set'].iter_atoms()}
    keys = sorted(set(surrogate) & set(dft))
    force_errors = np.concatenate([(surrogate[k].get_forces() - dft[k].get_forces()).ravel() for k in keys])
    relative_errors = []
    for prefix in ('cu_', 'cu3au_', 'cuau_'):
        group = [key for key in keys if key.startswith(prefix)]
        model = np.array([surrogate[key].get_potential_energy() / natoms for key in group])
        reference = np.array([dft[key].get_potential_energy() / natoms for key in group])
        relative_errors.extend((model - model.min()) - (reference - reference.min()))

    figures = {
        'cells': count,
        'atoms_per_cell': natoms,
        'surrogate_model_s': float(np.mean([entry['seconds'] for entry in summary['structures'].values()])),
        'surrogate_cpu_s': summary['cpu_seconds_per_structure'],
        'surrogate_load_s': summary['load_seconds'],
        'surrogate_end_to_end_s': surrogate_wall / count,
        'pw_s': float(np.mean(pw_seconds)),
        'pw_cpu_s': float(np.mean(pw_cpu)),
        'pw_end_to_end_s': dft_wall / count,
        'force_mae': float(np.mean(np.abs(force_errors))),
        'relative_energy_mae_mev': float(np.mean(np.abs(relative_errors)) * 1000),
    }
    print(f'{count} cells of {natoms} atoms; surrogate CHGNet {summary["model_version"]}, pw.x protocol fast')
    print(f'{"":24s}{"surrogate":>12s}{"pw.x":>12s}{"ratio":>10s}')
    print(
        f'{"wall time / structure":24s}{figures["surrogate_model_s"]:11.3f}s{figures["pw_s"]:11.2f}s'
        f'{figures["pw_s"] / figures["surrogate_model_s"]:9.0f}x'
    )
    print(
        f'{"CPU time / structure":24s}{figures["surrogate_cpu_s"]:11.3f}s{figures["pw_cpu_s"]:11.2f}s'
        f'{figures["pw_cpu_s"] / figures["surrogate_cpu_s"]:9.0f}x'
    )
    print(
        f'{"end to end / structure":24s}{figures["surrogate_end_to_end_s"]:11.2f}s{figures["pw_end_to_end_s"]:11.2f}s'
        f'{figures["pw_end_to_end_s"] / figures["surrogate_end_to_end_s"]:9.0f}x'
    )
    print(f'surrogate model load (once per job): {figures["surrogate_load_s"]:.1f} s')
    print(f'surrogate vs pw.x: force MAE {figures["force_mae"]:.3f} eV/A, ', end='')
    print(f'energy relative to the lowest of each composition MAE {figures["relative_energy_mae_mev"]:.1f} meV/atom')
    return figures


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=1, help='supercell repetition of the 4-atom cells')
    arguments = parser.parse_args()
    load_profile()  # under `verdi run` this returns the profile already loaded
    main(arguments.repeat)
