"""Labels saved by gamma-driven selection against random selection, same run, EMT standing in for DFT.

For a binary alloy (Cu-Au by default) and each seed: one start set (the campaign's structure
generation, labelled with EMT) and one start potential; then, per strategy, ``--iterations``
rounds of exploration (real ``lmp`` with the strategy's current potential, every sampled frame
dumped), selection of ``--per-iteration`` frames, EMT labelling and a refit (real ``pacemaker``,
from the previous potential, as the campaign does). Strategies:

* ``gamma``: the campaign's selection (``exploration.selection.select_frames``: frames at or above
  the campaign's ``gamma_lower``, near duplicates removed, farthest-point sampling from the highest
  gamma); topped up by the same rule below the threshold when too few reach it;
* ``random``: the same number of frames, uniformly at random (seeded) from the same kind of
  trajectories (the first iteration's trajectories are literally the same: same potential);
* ``all`` (``--all-frames``): every frame explored.

Every potential is scored on a held-out set that no strategy trains on: EMT Langevin MD over the
campaign's compositions and temperatures plus strained and vacancy cells at the highest temperature.
Prints a table per seed, the labels each strategy needs to first reach the force-RMSE target and
the ratio gamma/random (median and spread over seeds, "not reached" where so), writes a JSON of all
numbers and a PNG of the errors against labels.

Runs in a throw-away AiiDA profile (never ~/.aiida); needs ``make setup`` (pacemaker, lmp with ML-PACE).

Usage: ``python benchmarks/al_efficiency.py [--quick] [--seeds 1 2 3 4 5] [--target 120] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from throwaway_profile import throwaway_profile

QUICK = {
    'seeds': [1],
    'iterations': 1,
    'per_iteration': 4,
    'functions': 16,
    'maxiter': 30,
    'steps': 400,
    'heldout_steps': 150,
}
DEFAULT = {
    'seeds': [1, 2, 3],
    'iterations': 2,
    'per_iteration': 8,
    'functions': 32,
    'maxiter': 100,
    'steps': 1000,
    'heldout_steps': 300,
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help=f'CI size (machinery, not the ratio): {QUICK}')
    parser.add_argument('--elements', nargs=2, default=['Cu', 'Au'], help='A binary EMT knows (Cu Au Ag Ni Pd Pt Al).')
    parser.add_argument('--seeds', type=int, nargs='+', help=f'default {DEFAULT["seeds"]}')
    parser.add_argument(
        '--iterations', type=int, help=f'exploration rounds per strategy; default {DEFAULT["iterations"]}'
    )
    parser.add_argument('--per-iteration', type=int, help=f'labels per round; default {DEFAULT["per_iteration"]}')
    parser.add_argument('--functions', type=int, help=f'ACE functions per element; default {DEFAULT["functions"]}')
    parser.add_argument('--maxiter', type=int, help=f'pacemaker iterations per fit; default {DEFAULT["maxiter"]}')
    parser.add_argument('--steps', type=int, help=f'MD steps per exploration run; default {DEFAULT["steps"]}')
    parser.add_argument(
        '--heldout-steps', type=int, help='EMT MD steps per held-out run (2 fs; sampled after a third).'
    )
    parser.add_argument('--tmin', type=float, default=300.0, help='Lowest campaign temperature (K).')
    parser.add_argument('--tmax', type=float, default=1500.0, help='Highest campaign temperature (K).')
    parser.add_argument('--target', type=float, default=60.0, help='Held-out force RMSE target (meV/A).')
    parser.add_argument('--all-frames', action='store_true', help='Also label every explored frame (strategy `all`).')
    parser.add_argument('--out', default='al_efficiency_out', help='Folder for results.json and al_efficiency.png.')
    parser.add_argument(
        '--summarise', metavar='RESULTS_JSON', help='Re-summarise a finished run at --target (no new runs), then exit.'
    )
    parser.add_argument('--label', default='', help='Text added to the figure title (e.g. "reduced size").')
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


class Benchmark:
    """The AiiDA glue: fit, explore, label, score. Pure parts live in ``aiida_mlip_autopipe.benchmark``."""

    def __init__(self, args, config, codes, heldout):
        self.args, self.config, self.codes, self.heldout = args, config, codes, heldout
        self.explorations = {}

    def fit(self, training_set, seed, previous=None):
        from aiida.engine import run_get_node

        from aiida_mlip_autopipe.training.workchain import PacemakerWorkChain

        parameters = {
            'seed': seed,
            'number_of_functions_per_element': self.args.functions,
            'maxiter': self.args.maxiter,
            'test_size': 0.0,  # scored on the held-out set; a test split would only drop training data
        }
        builder = PacemakerWorkChain.get_builder_from_protocol(
            self.codes['pacemaker'],
            training_set,
            protocol='fast',
            overrides={'pacemaker': {'parameters': parameters}},
            previous_potential=previous,
        )
        _, node = run_get_node(builder)
        if not node.is_finished_ok:
            raise RuntimeError(f'fit failed: {node.exit_status} {node.exit_message}')
        return node.outputs.potential

    def score(self, potential) -> dict:
        from aiida_mlip_autopipe.benchmark.metrics import prediction_errors

        calculator = potential.get_calculator(active_set=False)

        def predict(atoms):
            atoms = atoms.copy()
            atoms.calc = calculator
            energy = atoms.get_potential_energy() + potential.reference_energy(atoms.get_chemical_symbols())
            return energy, atoms.get_forces()

        return prediction_errors(self.heldout, predict)

    def explore(self, potential, training_set, seed, iteration):
        """Run (or reuse) the exploration of ``potential``; return frames, max gamma, eligibility, report."""
        if potential.uuid in self.explorations:
            return self.explorations[potential.uuid]
        from aiida import orm
        from aiida.engine import run_get_node

        from aiida_mlip_autopipe.campaign.functions import starting_frames
        from aiida_mlip_autopipe.exploration.functions import SELECTION_DEFAULTS, trajectory_frames
        from aiida_mlip_autopipe.exploration.workchain import ExplorationWorkChain
        from aiida_mlip_autopipe.labelling.geometry import min_interatomic_distance

        compositions = self.config.compositions()
        cells = starting_frames(training_set.to_atoms(), len(compositions), 32, seed + iteration)
        rng = np.random.default_rng(seed + iteration)
        structures = {}
        for index, atoms in enumerate(cells):
            structures[f'start_{index:02d}'] = orm.StructureData(ase=atoms)
            vacancy = atoms.copy()
            del vacancy[int(rng.integers(len(vacancy)))]
            structures[f'vacancy_{index:02d}'] = orm.StructureData(ase=vacancy)
        exploration = self.config.exploration
        builder = ExplorationWorkChain.get_builder()
        builder.code = self.codes['lmp']
        builder.potential = potential
        builder.structures = structures
        builder.schedule = orm.Dict(
            {
                'ensemble': 'nvt',
                'temperatures': [self.args.tmin, self.args.tmax],
                'steps': self.args.steps,
                'timestep_fs': exploration.timestep_fs,
            }
        )
        builder.gamma_lower = orm.Float(1e-3)  # dump every sampled frame; selection applies the real threshold
        builder.gamma_upper = orm.Float(exploration.gamma_upper)
        builder.max_selected = orm.Int(1)
        builder.seed = orm.Int(seed * 100 + iteration)
        builder.max_concurrent = orm.Int(len(structures) * 2)  # one batch: the polling wait is paid once
        _, node = run_get_node(builder)
        if not node.is_finished_ok:
            raise RuntimeError(f'exploration failed: {node.exit_status} {node.exit_message}')
        frames = []
        for link in sorted(node.base.links.get_outgoing(link_label_filter='run_%').all(), key=lambda t: t.link_label):
            calc = link.node
            if calc.is_finished_ok and 'candidates' in calc.outputs:
                frames += trajectory_frames(calc.outputs.candidates)
        max_gamma = np.array([atoms.info['max_gamma'] for atoms in frames])
        eligible = np.array([min_interatomic_distance(a) >= SELECTION_DEFAULTS['min_distance'] for a in frames])
        report = node.outputs.report.get_dict()
        result = (frames, max_gamma, eligible, report)
        self.explorations[potential.uuid] = result
        return result

    def choose(self, strategy, potential, frames, max_gamma, eligible, seed) -> tuple[list[int], int]:
        from aiida_mlip_autopipe.benchmark.metrics import gamma_selection, random_selection

        count = self.args.per_iteration
        if strategy == 'random':
            return random_selection(count, eligible, seed), 0
        if strategy == 'all':
            return [int(i) for i in np.flatnonzero(eligible)], 0
        from aiida_mlip_autopipe.exploration.selection import frame_descriptors

        usable = np.flatnonzero(eligible)
        with tempfile.TemporaryDirectory() as folder:
            yaml_path = potential.write_files(folder)['yaml']
            block = frame_descriptors([frames[i] for i in usable], str(yaml_path))
        descriptors = np.zeros((len(frames), block.shape[1]))
        descriptors[usable] = block
        return gamma_selection(descriptors, max_gamma, count, self.config.exploration.gamma_lower, eligible, seed)

    def run_seed(self, seed, strategies) -> dict:
        from aiida_mlip_autopipe.data import TrainingSet
        from aiida_mlip_autopipe.generation.plan import generate_all
        from aiida_mlip_autopipe.generation.spec import GenerationSpec
        from aiida_mlip_autopipe.labelling.ase_labeller import label_atoms

        config = self.config
        spec = {**config.generation_spec(), 'seed': seed}
        # the fast preset's counts, with more rattled and strained cells (forces to learn from)
        spec['counts'] = {**spec.get('counts', {}), 'sqs': 2, 'ordered': 4, 'random_strain': 4, 'rattle': 16}
        generated, _ = generate_all(GenerationSpec(**spec))
        start = TrainingSet(frames=label_atoms([generated[key] for key in sorted(generated)], 'emt')).store()
        potential = self.fit(start, seed)
        first = {'iteration': 0, 'labels': start.count, **self.score(potential)}
        print(
            f'seed {seed}: start set {start.count} frames, start potential force RMSE {first["force_rmse"]:.1f} meV/A'
        )
        rows = {strategy: [dict(first)] for strategy in strategies}
        state = {strategy: (start, potential) for strategy in strategies}
        for iteration in range(1, self.args.iterations + 1):
            for strategy in strategies:
                training_set, potential = state[strategy]
                tick = time.perf_counter()
                frames, max_gamma, eligible, report = self.explore(potential, training_set, seed, iteration)
                chosen, _ = self.choose(strategy, potential, frames, max_gamma, eligible, seed * 100 + iteration)
                new = label_atoms([frames[i].copy() for i in chosen], 'emt')
                for atoms in new:
                    atoms.info = {}
                    for name in list(atoms.arrays):
                        if name not in ('numbers', 'positions'):
                            del atoms.arrays[name]
                merged = TrainingSet(frames=training_set.to_atoms() + new).store()
                potential = self.fit(merged, seed, previous=potential)
                state[strategy] = (merged, potential)
                row = {
                    'iteration': iteration,
                    'labels': merged.count,
                    **self.score(potential),
                    'frames_explored': len(frames),
                    'above_gamma_lower': int(np.sum(max_gamma[eligible] >= config.exploration.gamma_lower)),
                    'chosen_above_gamma_lower': int(np.sum(max_gamma[chosen] >= config.exploration.gamma_lower)),
                    'max_gamma': report.get('max_gamma'),
                    'runs_halted': report.get('runs_halted'),
                    'mean_gamma_chosen': float(np.mean(max_gamma[chosen])) if chosen else None,
                    'seconds': round(time.perf_counter() - tick, 1),
                }
                rows[strategy].append(row)
                print(
                    f'seed {seed} it {iteration} {strategy:>6}: {row["labels"]:4d} labels, force RMSE '
                    f'{row["force_rmse"]:6.1f}, p95 {row["force_p95"]:6.1f}, max {row["force_max"]:6.1f} meV/A, '
                    f'E {row["energy_rmse"]:5.1f} meV/atom; explored {len(frames)} frames, max gamma '
                    f'{row["max_gamma"]}, {row["above_gamma_lower"]} above {config.exploration.gamma_lower} '
                    f'({row["seconds"]} s)',
                    flush=True,
                )
        return rows


def reach_and_ratio(results: dict, target: float, interpolate: bool) -> tuple[dict, dict]:
    """Return per seed the labels each strategy needs to reach ``target`` and gamma/random, and the spread."""
    from aiida_mlip_autopipe.benchmark.metrics import labels_to_target, ratio_summary

    per_seed = {}
    for seed, rows in results.items():
        reach = {
            strategy: labels_to_target(
                [r['labels'] for r in table], [r['force_rmse'] for r in table], target, interpolate
            )
            for strategy, table in rows.items()
        }
        ratio = reach['gamma'] / reach['random'] if reach.get('gamma') and reach.get('random') else None
        per_seed[seed] = {'labels_to_target': reach, 'ratio': ratio}
    ratio = ratio_summary([entry['ratio'] for entry in per_seed.values()])
    reached = [entry['labels_to_target'] for entry in per_seed.values()]
    ratio['only_gamma'] = sum(1 for r in reached if r.get('gamma') and not r.get('random'))
    ratio['only_random'] = sum(1 for r in reached if r.get('random') and not r.get('gamma'))
    return per_seed, ratio


def summarise(results: dict, target: float) -> dict:
    """Return the labels to reach ``target`` (first reached, and interpolated between rounds), ratios, final errors."""
    per_seed, ratio = reach_and_ratio(results, target, interpolate=False)
    per_seed_interpolated, ratio_interpolated = reach_and_ratio(results, target, interpolate=True)
    final = {}
    for strategy in next(iter(results.values())):
        for measure in ('force_rmse', 'force_p95', 'force_max', 'energy_rmse'):
            values = [rows[strategy][-1][measure] for rows in results.values()]
            final.setdefault(strategy, {})[measure] = {
                'median': float(np.median(values)),
                'min': float(min(values)),
                'max': float(max(values)),
            }
    return {
        'target': target,
        'per_seed': per_seed,
        'ratio': ratio,
        'per_seed_interpolated': per_seed_interpolated,
        'ratio_interpolated': ratio_interpolated,
        'final': final,
    }


def print_reach(results: dict, per_seed: dict, ratio: dict, heading: str) -> None:
    """Print per seed the labels each strategy needs to reach the target, gamma/random, and the spread."""
    print('\n' + heading)
    for seed, entry in per_seed.items():
        reach = ', '.join(
            f'{s} {"not reached" if n is None else f"{n:g}" if n == int(n) else f"{n:.1f}"}'
            for s, n in entry['labels_to_target'].items()
        )
        ratio_text = f'{entry["ratio"]:.2f}' if entry['ratio'] is not None else 'n/a (a strategy did not reach it)'
        last = max(r['labels'] for table in results[seed].values() for r in table)
        reach_gamma, reach_random = entry['labels_to_target'].get('gamma'), entry['labels_to_target'].get('random')
        if reach_gamma and not reach_random:
            ratio_text = f'< {reach_gamma / last:.2f} (random not reached within {last} labels)'
        elif reach_random and not reach_gamma:
            ratio_text = f'> {last / reach_random:.2f} (gamma not reached within {last} labels)'
        print(f'  seed {seed}: {reach}; gamma/random {ratio_text}')
    if ratio['reached']:
        print(
            f'Ratio labels(gamma)/labels(random): median {ratio["median"]:.2f} '
            f'(range {ratio["min"]:.2f}-{ratio["max"]:.2f}) over {ratio["reached"]} of {ratio["seeds"]} seeds'
        )
    else:
        print(
            f'Ratio labels(gamma)/labels(random): not reached (no seed of {ratio["seeds"]} had both reach the target)'
        )
    print(f'Seeds where only gamma reached the target: {ratio["only_gamma"]}; only random: {ratio["only_random"]}')


def print_tables(results: dict, summary: dict) -> None:
    header = (
        f'{"seed":>4} {"strategy":>8} {"it":>2} {"labels":>6} {"F RMSE":>7} {"F p95":>7} {"F max":>7} {"E RMSE":>7}'
    )
    print('\nHeld-out errors (force meV/A, energy meV/atom)\n' + header)
    for seed, rows in results.items():
        for strategy, table in rows.items():
            for r in table:
                print(
                    f'{seed:>4} {strategy:>8} {r["iteration"]:>2} {r["labels"]:>6} {r["force_rmse"]:7.1f} '
                    f'{r["force_p95"]:7.1f} {r["force_max"]:7.1f} {r["energy_rmse"]:7.2f}'
                )
    target = summary['target']
    print_reach(results, summary['per_seed'], summary['ratio'], f'Labels to first reach force RMSE <= {target} meV/A:')
    print_reach(
        results,
        summary['per_seed_interpolated'],
        summary['ratio_interpolated'],
        'The same, interpolated linearly between rounds (where the curve crosses the target):',
    )
    print('Final potentials (median [min-max] over seeds):')
    for strategy, measures in summary['final'].items():
        text = ', '.join(f'{m} {v["median"]:.1f} [{v["min"]:.1f}-{v["max"]:.1f}]' for m, v in measures.items())
        print(f'  {strategy:>6}: {text}')


def plot(results: dict, summary: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    colours = {'gamma': 'tab:blue', 'random': 'tab:orange', 'all': 'tab:green'}
    figure, axes = plt.subplots(1, 3, figsize=(13, 4))
    for axis, measure, name in zip(
        axes,
        ('force_rmse', 'force_p95', 'energy_rmse'),
        ('force RMSE (meV/A)', 'force error p95 (meV/A)', 'energy RMSE (meV/atom)'),
    ):
        for strategy in next(iter(results.values())):
            tables = [rows[strategy] for rows in results.values()]
            for index, table in enumerate(tables):
                axis.plot(
                    [r['labels'] for r in table],
                    [r[measure] for r in table],
                    'o-',
                    color=colours.get(strategy, 'k'),
                    alpha=0.35 if len(tables) > 1 else 1.0,
                    label=strategy if index == 0 else None,
                )
            if len(tables) > 1 and len({len(t) for t in tables}) == 1:
                labels = np.median([[r['labels'] for r in t] for t in tables], axis=0)
                values = np.median([[r[measure] for r in t] for t in tables], axis=0)
                axis.plot(labels, values, '-', color=colours.get(strategy, 'k'), linewidth=3)
        if measure == 'force_rmse':
            axis.axhline(summary['target'], color='grey', linestyle=':', label='target')
        values = [r[measure] for rows in results.values() for table in rows.values() for r in table]
        if min(values) > 0 and max(values) / min(values) > 20:
            axis.set_yscale('log')  # one seed's blow-up must not flatten the others
        axis.set_xlabel('labels (EMT calculations)')
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report(args, results: dict, out: Path, started: float) -> dict:
    """Print the tables, write ``results.json`` and ``al_efficiency.png`` for the seeds done so far."""
    summary = summarise(results, args.target)
    print_tables(results, summary)
    minutes = (time.perf_counter() - started) / 60
    settings = {k: getattr(args, k) for k in (*DEFAULT, 'elements', 'tmin', 'tmax', 'target')}
    done = f'{len(results)} seed(s)' + (f' of {len(args.seeds)} planned' if len(results) < len(args.seeds) else '')
    title = (
        f'{"-".join(args.elements)} EMT, {done}, '
        f'{args.iterations} rounds x {args.per_iteration} labels, {args.functions} functions/element, '
        f'{args.maxiter} fit iterations, {args.steps} MD steps {args.label}'
    )
    plot(results, summary, out / 'al_efficiency.png', title)
    payload = {'settings': settings, 'minutes': round(minutes, 1), 'summary': summary, 'results': results}
    (out / 'results.json').write_text(json.dumps(payload, indent=1, default=str))
    print(f'\n{minutes:.1f} min; wrote {out / "al_efficiency.png"} and {out / "results.json"}', flush=True)
    return payload


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.summarise:
        payload = json.loads(Path(args.summarise).read_text())
        results = {int(seed): rows for seed, rows in payload['results'].items()}
        payload['summary'] = summarise(results, args.target)
        print_tables(results, payload['summary'])
        if args.out != 'al_efficiency_out':
            k = payload['settings']
            title = (
                f'{"-".join(k["elements"])} EMT, {len(results)} seed(s), {k["iterations"]} rounds x '
                f'{k["per_iteration"]} labels, {k["functions"]} functions/element, {k["maxiter"]} fit iterations, '
                f'{k["steps"]} MD steps {args.label}'
            )
            plot(results, payload['summary'], Path(args.out) / 'al_efficiency.png', title)
        return payload
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with throwaway_profile('al-efficiency-benchmark') as tmp:
        from aiida_mlip_autopipe.benchmark.heldout import heldout_frames
        from aiida_mlip_autopipe.campaign.config import campaign_from_dict
        from aiida_mlip_autopipe.data import TrainingSet
        from aiida_mlip_autopipe.setup import CODES, default_executable, ensure_code, ensure_localhost

        computer = ensure_localhost(workdir=str(Path(tmp) / 'scratch'))
        codes = {
            label: ensure_code(label, computer, CODES[label][0], default_executable(label))
            for label in ('pacemaker', 'lmp')
        }
        config = campaign_from_dict(
            {
                'name': 'al-efficiency',
                'elements': args.elements,
                'composition': {'min': 0.0, 'max': 1.0, 'points': 3},
                'temperature': {'min': args.tmin, 'max': args.tmax, 'points': 3},
                'protocol': 'fast',
                'labeller': 'emt',
                'seed': 0,
                'codes': {'pacemaker': codes['pacemaker'].full_label, 'lmp': codes['lmp'].full_label},
            }
        )
        temperatures = config.temperature.values()
        tick = time.perf_counter()
        frames = heldout_frames(
            config.compositions(),
            temperatures,
            'emt',
            seed=12345,
            steps=args.heldout_steps,
            every=max(1, args.heldout_steps // 10),
            skip=args.heldout_steps // 3,
        )
        heldout = TrainingSet(frames=frames).store()
        heldout.label = 'al-efficiency held-out set (never trained on)'
        kinds = {kind: sum(1 for a in frames if a.info['kind'] == kind) for kind in ('md', 'vacancy', 'strain')}
        print(
            f'held-out set: {len(frames)} frames ({kinds}) at {temperatures} K over {config.compositions()}, '
            f'{time.perf_counter() - tick:.0f} s; TrainingSet<{heldout.pk}> sha256 {heldout.sha256[:12]}',
            flush=True,
        )
        strategies = ['gamma', 'random'] + (['all'] if args.all_frames else [])
        benchmark = Benchmark(args, config, codes, list(heldout.iter_atoms()))
        results = {}
        for seed in args.seeds:
            results[seed] = benchmark.run_seed(seed, strategies)
            payload = report(args, results, out, started)  # after every seed: a cut-short run leaves its numbers
    return payload


if __name__ == '__main__':
    sys.exit(main() and 0)
