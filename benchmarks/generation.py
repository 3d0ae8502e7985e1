"""How long structure generation takes for a spec of about 300 Cu-Au structures, three SQS cells among them.

Usage::

    .venv/bin/python benchmarks/generation.py [--no-workchain] [--png docs/_static/generation_examples.png]

Prints the time of each stage of the pure generation (no AiiDA), each SQS cell's objective and
correlation mismatch to the random alloy, the structures kept per method, and then the wall time of
the same spec through ``StructureGenerationWorkChain`` on a throw-away profile (calcfunction
provenance, storage, extras, group). Goal: under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time

from throwaway_profile import throwaway_profile

#: The spec of the documentation page (docs/generation.rst): every method at its default count.
SPEC = {
    'elements': ['Cu', 'Au'],
    'composition_range': {'element': 'Au', 'start': 0.0, 'stop': 1.0, 'num': 5},
    'lattices': ['fcc'],
    'sqs_sizes': [32],
    'seed': 42,
}


def pure(spec, png: str | None) -> dict:
    from aiida_mlip_autopipe.generation import plan

    timings = {}
    start = time.perf_counter()
    cpu_start = time.process_time()
    bulk = plan.bulk_structures(spec)
    timings['bulk and ordered'] = time.perf_counter() - start
    sqs_figures = {}
    for index, task in enumerate(plan.sqs_tasks(spec)):
        begin = time.perf_counter()
        atoms, figures = plan.sqs_structure(spec, task)
        figures['seconds'] = time.perf_counter() - begin
        bulk[f'sqs_{index:03d}'] = atoms
        sqs_figures[f'sqs_{index:03d}'] = (task, figures)
    timings['sqs'] = sum(figures['seconds'] for _, figures in sqs_figures.values())
    structures = dict(bulk)
    for name, stage in (
        ('distortions', plan.distorted_structures),
        ('defects', plan.defect_structures),
        ('surfaces', plan.surface_structures),
    ):
        begin = time.perf_counter()
        structures.update(stage(spec, bulk))
        timings[name] = time.perf_counter() - begin
    begin = time.perf_counter()
    summary = plan.screen(spec, structures)
    timings['screen and duplicates'] = time.perf_counter() - begin
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu_start

    print(
        f'pure generation: {len(structures)} candidates, {len(summary["kept"])} kept in {total:.1f} s wall, '
        f'{cpu:.1f} s CPU (one process, one core)'
    )
    for name, seconds in timings.items():
        print(f'  {name:<24s} {seconds:6.1f} s')
    print(f'SQS cells (steps {spec.sqs_steps}, supercell shapes {spec.sqs_supercells}):')
    print('  key      composition   atoms  seconds  objective  exact pair shells  max |pair|  max |triplet|', end='')
    print('  pair mismatch')
    for key, (task, figures) in sqs_figures.items():
        composition = ' '.join(f'{el}{value:g}' for el, value in task['composition'].items())
        print(
            f'  {key}  {composition:<12s}  {task["atoms"]:5d}  {figures["seconds"]:7.1f}  {figures["objective"]:9.3f}  '
            f'{figures["exact_pair_shells"]:17d}  {figures["max_pair_mismatch"]:10.4f}  '
            f'{figures["max_triplet_mismatch"]:13.4f}  {figures["pair_mismatch"]}'
        )
    print('kept per method:', ', '.join(f'{method} {count}' for method, count in summary['counts'].items()))
    print(f'duplicates removed: {len(summary["duplicates"])}, refused: {len(summary["refused"])}')
    if png:
        render(structures, summary, png)
    return summary


def render(structures, summary, path: str) -> None:
    """Save one example cell per method, side by side."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from ase.visualize.plot import plot_atoms

    examples = {}
    for key in summary['kept']:
        atoms = structures[key]
        method = atoms.info['method']
        alloy = len(set(atoms.numbers)) > 1
        # prefer an alloy cell of a few atoms or more, the largest slab
        score = (alloy, len(atoms) >= 4, len(atoms) if method == 'surface' else 0)
        if method not in examples or score > examples[method][0]:
            examples[method] = (score, key)
    examples = {method: key for method, (_, key) in examples.items()}
    figure, axes = plt.subplots(2, 5, figsize=(15, 6.6))
    for axis, (method, key) in zip(axes.ravel(), examples.items()):
        atoms = structures[key]
        rotation = '-80x,0y,0z' if method == 'surface' else '10x,-25y,0z'
        plot_atoms(atoms, axis, rotation=rotation, radii=0.6, show_unit_cell=2)
        axis.set_title(f'{method}\n{atoms.get_chemical_formula()} ({key})', fontsize=10)
        axis.set_axis_off()
    for axis in axes.ravel()[len(examples) :]:
        axis.set_axis_off()
    figure.suptitle('Example Cu-Au cells, one per generation method (Cu copper-coloured, Au gold)')
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    print(f'example cells: {path}')


def workchain(spec_dict) -> None:
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.generation.workchain import StructureGenerationWorkChain

    begin = time.perf_counter()
    cpu_begin = time.process_time()
    results, node = run_get_node(StructureGenerationWorkChain, spec=orm.Dict(spec_dict))
    seconds = time.perf_counter() - begin
    cpu = time.process_time() - cpu_begin
    summary = results['summary'].get_dict()
    print(
        f'StructureGenerationWorkChain: exit status {node.exit_status}, {len(results["structures"])} structures, '
        f'{len(summary["duplicates"])} duplicates removed, {seconds:.1f} s wall, {cpu:.1f} s CPU'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--no-workchain', action='store_true', help='time the pure generation only')
    parser.add_argument('--png', help='save example cells, one per method, to this PNG')
    arguments = parser.parse_args()

    from aiida_mlip_autopipe.generation.spec import validate_spec

    spec = validate_spec(SPEC)
    print(f'CPU cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}')
    pure(spec, arguments.png)
    if not arguments.no_workchain:
        with throwaway_profile('generation-benchmark', 'core.sqlite_temp'):
            workchain(spec.model_dump(mode='json'))
    print(f'load average after: {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    main()
