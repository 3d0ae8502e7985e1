"""Does the campaign's selection save labels? A fixed labelled pool, rare held-out ground, many draws, intervals.

Per alloy (default Cu-Au and Ag-Pd), EMT standing in for DFT:

1. a fixed **pool** (about 2000 frames of 32-atom cells: MD at three temperatures, five
   compositions, random and ordered cells, plus 8 % rare kinds: vacancy, divacancy, antisite,
   surfaces, stacking-fault shifts, +-10 % volume and 5 % shear strain, vacancy-hop NEB images,
   liquid, compressed contacts), labelled once; a strategy *sees* a label only when it selects the
   frame. Eight planted near-duplicates test that a rule does not pay twice;
2. **held-out** sets from independent seeds: typical (the same grid), rare (the same kinds),
   properties (EOS, elastic strains, relaxed vacancy formation and NEB migration energies);
3. a **linear ACE** model (pacemaker's linear embedding; design matrix computed once, each fit a
   deterministic ridge solve in milliseconds), so thousands of fits are affordable;
4. **strategies** from the same start set per seed, ``--rounds`` rounds of ``--per-round`` labels:
   uniform random (``--draws`` per seed), stratified random, the campaign's own rule (imported:
   trust window on gamma against the active set, then ``select_frames_maxvol``), D-optimal MaxVol
   as ``pace_select`` does it, and the whole pool as the floor;
5. **measures**: labels added (start set not counted; also weighted by DFT cost ~ atoms^3) to
   reach and stay at 1.25x the whole-pool error of the rare set's 99th-percentile force error and
   of the vacancy formation and migration energies (secondary: typical force RMSE, areas under the
   learning curves); median ratio to random, two-level bootstrap 95 % interval over seeds and draws;
6. a **non-linear check**: real pacemaker fits from scratch on the frames chosen (two budgets, two seeds);
7. **MD robustness**: LAMMPS NPT with ``pace/extrapolation`` at 1.2x the highest pool temperature,
   256-atom quasi-random cells with and without a vacancy, for the linear potentials of every
   strategy at the same label count: failures and time to the first gamma above ``gamma_upper``.

Writes ``results.json``, ``tables.txt`` and ``al_efficiency.png`` into ``--out``; ``--docs DIR``
also writes the docs page's results section (``DIR/al_efficiency_results.inc``) and figure.
``--render RESULTS_JSON`` re-makes tables, figure and docs from a finished run without running.

Usage: ``python benchmarks/al_efficiency.py [--quick] [--out DIR] [--docs docs] [--workers 2]``
"""

from __future__ import annotations

import os
import tempfile

# one BLAS thread per process (two worker processes on two cores): multi-threaded BLAS on a busy
# machine made a MaxVol step 17 times slower
for _variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_variable, '1')
# the campaign's selection module imports AiiDA: never let that touch ~/.aiida
if 'AIIDA_PATH' not in os.environ:
    import atexit
    import shutil as _shutil

    os.environ['AIIDA_PATH'] = tempfile.mkdtemp(prefix='al-efficiency-aiida-')
    atexit.register(_shutil.rmtree, os.environ['AIIDA_PATH'], ignore_errors=True)

import argparse  # noqa: E402
import concurrent.futures as futures  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import multiprocessing  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

DEFAULT = {
    'alloys': ['Cu-Au', 'Ag-Pd'],
    'seeds': [1, 2, 3, 4, 5],
    'draws': 20,
    'stratified_draws': 20,
    'rounds': 30,
    'per_round': 5,
    'frames_per_run': 77,
    'skip': 100,
    'rare_scale': 1.0,
    'heldout_frames_per_run': 10,
    'heldout_every': 30,
    'heldout_rare_scale': 1.0,
    'duplicate_pairs': 8,
    'functions': 100,
    'md_alloys': ['Cu-Au'],
    'md_ps': 20.0,
    'pacemaker_alloys': ['Cu-Au'],
    'pacemaker_seeds': [1, 2],
    'pacemaker_budgets': [25, 100],
    'pacemaker_strategies': ['random', 'campaign', 'maxvol'],
    'pacemaker_functions': 32,
    'pacemaker_maxiter': 150,
    'bootstrap': 2000,
}
QUICK = {
    **DEFAULT,
    'seeds': [1, 2],
    'draws': 3,
    'stratified_draws': 2,
    'rounds': 4,
    'frames_per_run': 6,
    'skip': 40,
    'rare_scale': 0.06,
    'heldout_frames_per_run': 2,
    'heldout_every': 10,
    'heldout_rare_scale': 0.12,
    'duplicate_pairs': 3,
    'functions': 30,
    'md_ps': 0.4,
    'pacemaker_seeds': [1],
    'pacemaker_budgets': [10],
    'pacemaker_strategies': ['random', 'campaign'],
    'pacemaker_functions': 8,
    'pacemaker_maxiter': 5,
    'bootstrap': 200,
}
MD_STRATEGIES = ('random', 'stratified', 'campaign', 'maxvol', 'whole_pool')
TEMPERATURES = (300.0, 700.0, 1100.0)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='CI size: the machinery, not the answer.')
    parser.add_argument('--alloys', nargs='+', help=f'Binaries EMT knows, as A-B; default {DEFAULT["alloys"]}.')
    parser.add_argument('--seeds', type=int, nargs='+', help=f'Start sets; default {DEFAULT["seeds"]}.')
    parser.add_argument('--draws', type=int, help=f'Uniform random draws per seed; default {DEFAULT["draws"]}.')
    parser.add_argument('--stratified-draws', type=int, help='Stratified random draws per seed; default 20.')
    parser.add_argument('--rounds', type=int, help=f'Selection rounds; default {DEFAULT["rounds"]}.')
    parser.add_argument('--per-round', type=int, help=f'Labels per round; default {DEFAULT["per_round"]}.')
    parser.add_argument('--frames-per-run', type=int, help='Typical pool frames per MD run (24 runs); default 77.')
    parser.add_argument('--skip', type=int, help='MD steps before the first typical frame of a run; default 100.')
    parser.add_argument('--heldout-every', type=int, help='MD steps between typical held-out frames; default 30.')
    parser.add_argument('--rare-scale', type=float, help='Rare pool frames, times the default counts (155).')
    parser.add_argument('--heldout-frames-per-run', type=int, help='Typical held-out frames per MD run; default 10.')
    parser.add_argument('--heldout-rare-scale', type=float, help='Rare held-out frames, times the default counts.')
    parser.add_argument('--duplicate-pairs', type=int, help='Near-duplicates planted in the pool; default 8.')
    parser.add_argument(
        '--functions', type=int, help=f'Linear ACE functions per element; default {DEFAULT["functions"]}.'
    )
    parser.add_argument('--md-alloys', nargs='*', help='Alloys with the MD robustness check; default Cu-Au.')
    parser.add_argument('--md-ps', type=float, help=f'Length of each MD run (ps); default {DEFAULT["md_ps"]}.')
    parser.add_argument('--pacemaker-alloys', nargs='*', help='Alloys with the pacemaker check; default Cu-Au.')
    parser.add_argument('--pacemaker-seeds', type=int, nargs='+', help='Seeds of the pacemaker check; default 1 2.')
    parser.add_argument('--pacemaker-budgets', type=int, nargs='+', help='Labels added; default 25 100.')
    parser.add_argument('--pacemaker-strategies', nargs='+', help='default random campaign maxvol')
    parser.add_argument('--pacemaker-functions', type=int, help='pacemaker functions per element; default 32.')
    parser.add_argument('--pacemaker-maxiter', type=int, help='pacemaker iterations; default 150.')
    parser.add_argument('--bootstrap', type=int, help='Bootstrap samples; default 2000.')
    parser.add_argument('--protocol', default='balanced', help='Campaign protocol whose trust window is used.')
    parser.add_argument('--workers', type=int, default=2, help='Processes and code runs at a time (default 2).')
    parser.add_argument('--out', default='al_efficiency_out', help='Folder for the results (and cache/, work/).')
    parser.add_argument('--no-cache', action='store_true', help='Build the pools again even if cached in --out.')
    parser.add_argument('--docs', help='Docs folder: write al_efficiency_results.inc and _static/al_efficiency.png.')
    parser.add_argument('--render', metavar='RESULTS_JSON', help='Only re-make tables, figure (and --docs) from a run.')
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    for key, value in base.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.size = 'quick' if args.quick else 'default'
    return args


class LoadSampler(threading.Thread):
    """Samples the 1-minute load average every ``period`` seconds (the docs state how busy the machine was)."""

    def __init__(self, period: float = 15.0):
        super().__init__(daemon=True)
        self.period, self.samples, self.stopped = period, [os.getloadavg()[0]], threading.Event()

    def run(self):
        while not self.stopped.wait(self.period):
            self.samples.append(os.getloadavg()[0])


def alloy_config(name: str, args, out: Path) -> dict:
    elements = name.split('-')
    return {
        'elements': elements,
        'pool': {
            'temperatures': TEMPERATURES,
            'frames_per_run': args.frames_per_run,
            'skip': args.skip,
            'rare_scale': args.rare_scale,
            'heldout_frames_per_run': args.heldout_frames_per_run,
            'heldout_every': args.heldout_every,
            'heldout_rare_scale': args.heldout_rare_scale,
            'duplicate_pairs': args.duplicate_pairs,
        },
        'fit': {'functions_per_element': args.functions},
        'seeds': args.seeds,
        'draws': args.draws,
        'stratified_draws': args.stratified_draws,
        'rounds': args.rounds,
        'per_round': args.per_round,
        'protocol': args.protocol,
        'cache': None if args.no_cache else str(out / 'cache'),
        'md': {'folder': str(out / 'work' / name / 'potentials'), 'strategies': MD_STRATEGIES}
        if name in args.md_alloys
        else None,
        'pacemaker': {
            'seeds': args.pacemaker_seeds,
            'budgets': args.pacemaker_budgets,
            'strategies': args.pacemaker_strategies,
        }
        if name in args.pacemaker_alloys
        else None,
    }


def pacemaker_job(training: dict, heldout, elements, args, folder: Path) -> dict:
    """Fit pacemaker on one strategy's frames and score it on the held-out sets."""
    from aiida_mlip_autopipe.benchmark.nonlinear import fit_pacemaker, isolated_energies, predict, reference_energies
    from aiida_mlip_autopipe.setup import default_executable
    from aiida_mlip_autopipe.training.pacemaker_io import PacemakerParameters

    entry = {k: training[k] for k in ('strategy', 'seed', 'budget')}
    entry['frames'] = len(training['frames'])
    parameters = PacemakerParameters(
        number_of_functions_per_element=args.pacemaker_functions,
        maxiter=args.pacemaker_maxiter,
        test_size=0.0,
        seed=training['seed'],
    )
    pacemaker = str(Path(default_executable('pacemaker')).parent / 'pacemaker')
    try:
        yaml_path, entry['seconds'] = fit_pacemaker(training['frames'], elements, folder, parameters, pacemaker)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exception:
        entry['error'] = str(exception)[-500:]
        return entry
    reference = reference_energies(yaml_path, isolated_energies(elements))
    typical = predict(yaml_path, heldout.typical_frames, reference)
    rare = predict(yaml_path, heldout.rare_frames, reference)
    properties, _ = predict(yaml_path, heldout.property_frames, reference, forces=False)
    entry['errors'] = heldout.errors(typical, rare, properties)
    return entry


def md_job(strategy, seed, cell_name, atoms, paths, species, args, folder: Path, selection: dict) -> dict:
    from aiida_mlip_autopipe.benchmark.md import run_md
    from aiida_mlip_autopipe.setup import default_executable

    result = run_md(
        default_executable('lmp'),
        Path(paths[0]),
        Path(paths[1]),
        species,
        atoms,
        folder,
        temperature=1.2 * max(TEMPERATURES),
        picoseconds=args.md_ps,
        gamma_lower=selection['gamma_lower'],
        gamma_upper=selection['gamma_upper'],
        seed=1000 + seed,
    )
    return {'strategy': strategy, 'seed': seed, 'cell': cell_name, **result}


def run(args) -> dict:
    """Run the benchmark; return the results (JSON-able)."""
    from aiida_mlip_autopipe.benchmark.md import md_cells
    from aiida_mlip_autopipe.benchmark.report import summarise
    from aiida_mlip_autopipe.benchmark.study import run_alloy

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sampler = LoadSampler()
    sampler.start()
    load_start = os.getloadavg()
    slots = threading.BoundedSemaphore(args.workers)
    processes = futures.ProcessPoolExecutor(
        max_workers=min(args.workers, len(args.alloys)), mp_context=multiprocessing.get_context('spawn')
    )
    threads = futures.ThreadPoolExecutor(max_workers=args.workers + len(args.alloys))

    def guarded(function, *arguments):
        with slots:
            return function(*arguments)

    def alloy(name):
        return processes.submit(run_alloy, alloy_config(name, args, out)).result()

    alloys = {threads.submit(guarded, alloy, name): name for name in args.alloys}
    results, checks = {}, []
    for future in futures.as_completed(alloys):
        name = alloys[future]
        done = future.result()
        result = done['result']
        results[name] = result
        print(f'{name}: linear part done in {result["seconds"] / 60:.1f} min {result["timings"]}', flush=True)
        work = out / 'work' / name
        for training in done['pacemaker_training']:
            folder = work / 'pacemaker' / f'{training["strategy"]}-seed{training["seed"]}-added{training["budget"]}'
            shutil.rmtree(folder, ignore_errors=True)
            checks.append(
                (
                    name,
                    'pacemaker',
                    threads.submit(guarded, pacemaker_job, training, done['heldout'], result['elements'], args, folder),
                )
            )
        if done['md_potentials']:
            cells = md_cells(result['elements'], args.seeds)
            for strategy, by_seed in done['md_potentials'].items():
                for cell_name, atoms in cells:
                    seed = int(cell_name.rsplit('-', 1)[1])
                    folder = work / 'md' / f'{strategy}-{cell_name}'
                    shutil.rmtree(folder, ignore_errors=True)
                    job = (strategy, seed, cell_name, atoms, by_seed[seed], done['species'], args, folder)
                    checks.append((name, 'md', threads.submit(guarded, md_job, *job, result['selection_settings'])))
    for name, kind, future in checks:
        entry = future.result()
        result = results[name]
        if kind == 'pacemaker':
            result.setdefault(
                'pacemaker', {'functions': args.pacemaker_functions, 'maxiter': args.pacemaker_maxiter, 'fits': []}
            )
            result['pacemaker']['fits'].append(entry)
        else:
            md = result.setdefault(
                'md',
                {
                    'temperature': 1.2 * max(TEMPERATURES),
                    'picoseconds': args.md_ps,
                    'timestep_fs': 2.0,
                    'gamma_upper': result['selection_settings']['gamma_upper'],
                    'labels_added': args.rounds * args.per_round,
                    'cells': [],
                    'runs': {},
                },
            )
            if entry['cell'] not in md['cells']:
                md['cells'].append(entry['cell'])
            md['runs'].setdefault(entry['strategy'], []).append(entry)
    processes.shutdown()
    threads.shutdown()
    sampler.stopped.set()
    for result in results.values():
        result['summary'] = summarise(result, samples=args.bootstrap)
    settings = {key: getattr(args, key) for key in (*DEFAULT, 'protocol', 'workers') if key not in ('alloys',)}
    return {
        'settings': {**settings, 'alloys': args.alloys},
        'run': {
            'date': datetime.date.today().isoformat(),
            'size': args.size,
            'command': 'python benchmarks/al_efficiency.py ' + shlex.join(sys.argv[1:]),
            'minutes': (time.perf_counter() - started) / 60,
            'cpus': os.cpu_count(),
            'load': {
                'start': list(load_start),
                'end': list(os.getloadavg()),
                'mean': sum(sampler.samples) / len(sampler.samples),
            },
        },
        'alloys': {name: results[name] for name in args.alloys},
    }


def write_outputs(results: dict, out: Path, docs: str | None) -> None:
    from aiida_mlip_autopipe.benchmark.report import docs_section, plot, tables

    out.mkdir(parents=True, exist_ok=True)
    text = tables(results)
    print(text, flush=True)
    (out / 'tables.txt').write_text(text + '\n')
    plot(results, out / 'al_efficiency.png')
    if docs:
        docs = Path(docs)
        (docs / '_static').mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / 'al_efficiency.png', docs / '_static' / 'al_efficiency.png')
        (docs / 'al_efficiency_results.inc').write_text(docs_section(results))
    print(
        f'wrote {out / "tables.txt"}, {out / "al_efficiency.png"}'
        + (f' and the results section in {docs}' if docs else '')
    )


def main(argv=None) -> dict:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    if args.render:
        from aiida_mlip_autopipe.benchmark.report import summarise

        results = json.loads(Path(args.render).read_text())
        for alloy in results['alloys'].values():
            alloy['summary'] = summarise(alloy, samples=results['settings']['bootstrap'])
        write_outputs(results, Path(args.out), args.docs)
        return results
    results = run(args)
    out = Path(args.out)
    (out / 'results.json').write_text(json.dumps(results, indent=None, separators=(',', ':')))
    print(f'wrote {out / "results.json"}')
    write_outputs(results, out, args.docs)
    print(f'{results["run"]["minutes"]:.1f} min', flush=True)
    return results


if __name__ == '__main__':
    main()
