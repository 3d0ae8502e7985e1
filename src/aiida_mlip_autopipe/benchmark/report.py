"""Summary, tables, figure and docs page section of the selection benchmark, all from its ``results.json``.

:func:`summarise` turns the learning curves into labels to reach 1.25 times the whole-pool error
and the ratios to random selection with bootstrap intervals; :func:`tables` prints them with the
non-linear check and the MD robustness; :func:`plot` draws the intervals and the learning curves;
:func:`docs_section` renders the docs page's results section, so the page always shows the
output of the run it was generated from.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .metrics import area_under_curve, bootstrap_ratio, labels_to_reach, wilson_interval
from .runner import MEASURES, PRIMARY, SECONDARY

#: A strategy reaches a measure when its error is at most this times the whole-pool fit's.
THRESHOLD_FACTOR = 1.25
#: Fewer seeds than this give no verdict: a bootstrap over one or two start sets says little.
MIN_SEEDS = 3
REPORTED = (*PRIMARY, *SECONDARY)
LABELS = {
    'random': 'uniform random',
    'stratified': 'stratified random',
    'campaign': "campaign's rule",
    'maxvol': 'D-optimal MaxVol',
    'whole_pool': 'whole pool',
}
COLOURS = {
    'random': 'tab:orange',
    'stratified': 'tab:olive',
    'campaign': 'tab:blue',
    'maxvol': 'tab:purple',
    'whole_pool': 'tab:green',
}


def _grouped(runs: list[dict]) -> dict[str, dict[int, list[dict]]]:
    grouped: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        grouped[run['strategy']][int(run['seed'])].append(run)
    for seeds in grouped.values():
        for entries in seeds.values():
            entries.sort(key=lambda run: run['draw'])
    return grouped


def summarise(alloy: dict, samples: int = 2000) -> dict:
    """Return, per measure, the labels (and DFT cost) each run needs to reach the threshold and the ratios to random.

    A run that does not reach the threshold by its last round counts as the last round plus one
    (a lower bound: the ratio is then a bound too), and is counted in ``not_reached``.
    """
    whole = alloy['whole_pool']
    grouped = _grouped(alloy['runs'])
    strategies = [s for s in ('random', 'stratified', 'campaign', 'maxvol') if s in grouped]
    out = {}
    for measure in MEASURES:
        threshold = THRESHOLD_FACTOR * whole[measure]
        entry = {'threshold': threshold, 'whole_pool': whole[measure], 'strategies': {}, 'ratios': {}}
        values = {}
        for strategy in strategies:
            reach, cost, auc = {}, {}, {}
            missed = total = 0
            for seed, runs in grouped[strategy].items():
                reach[seed], cost[seed], auc[seed] = [], [], []
                for run in runs:
                    curve = run['curve']
                    step = curve['labels'][1] - curve['labels'][0] if len(curve['labels']) > 1 else 1
                    found = labels_to_reach(curve['labels'], curve[measure], threshold)
                    spent = labels_to_reach(curve['cost'], curve[measure], threshold)
                    missed += found is None
                    total += 1
                    reach[seed].append(curve['labels'][-1] + step if found is None else found)
                    cost[seed].append(curve['cost'][-1] + step if spent is None else spent)
                    auc[seed].append(area_under_curve(curve['labels'], curve[measure], whole[measure]))
            pooled = np.concatenate([np.asarray(v, dtype=float) for v in reach.values()])
            finals = [run['curve'][measure][-1] for runs in grouped[strategy].values() for run in runs]
            entry['strategies'][strategy] = {
                'labels_median': float(np.median(pooled)),
                'labels_low': float(np.min(pooled)),
                'labels_high': float(np.max(pooled)),
                'not_reached': int(missed),
                'runs': int(total),
                'final_median': float(np.median(finals)),
            }
            values[strategy] = {'labels': reach, 'cost': cost, 'auc': auc}
        if 'random' in values:
            for strategy in strategies:
                if strategy == 'random':
                    continue
                entry['ratios'][strategy] = {
                    kind: bootstrap_ratio(
                        values[strategy][kind],
                        values['random'][kind],
                        samples=samples,
                        floor=1.0 if kind != 'auc' else 0.0,
                    )
                    for kind in ('labels', 'cost', 'auc')
                }
        out[measure] = entry
    return out


def verdict(ratio: dict) -> str:
    """Return what an interval says: a saving, a loss, or no difference shown."""
    if ratio['seeds'] == 0 or not math.isfinite(ratio['median']):
        return 'not measured'
    if ratio['seeds'] < MIN_SEEDS:
        return f'too few seeds ({ratio["seeds"]})'
    if ratio['high'] < 1.0:
        return 'saves labels'
    if ratio['low'] > 1.0:
        return 'needs more labels'
    return 'no difference shown'


def _number(value: float) -> str:
    return 'n/a' if value is None or not math.isfinite(value) else f'{value:.3g}' if value < 10 else f'{value:.0f}'


def tables(results: dict) -> str:
    """Return the printed tables of a run: per alloy the labels to reach, ratios, and the checks."""
    lines = []
    settings = results['settings']
    for name, alloy in results['alloys'].items():
        summary = alloy['summary']
        pool = alloy['pool']
        budget = settings['rounds'] * settings['per_round']
        lines += [
            f'== {name}: pool {pool["frames"]} frames ({pool["rare"]} rare, {100 * pool["rare_fraction"]:.1f} %, '
            f'{pool["twins"]} planted near-duplicates), held-out {alloy["heldout"]["typical"]} typical / '
            f'{alloy["heldout"]["rare"]} rare / {alloy["heldout"]["properties"]} property frames',
            f'   start set {alloy["start_size"]} frames per seed; {settings["rounds"]} rounds x '
            f'{settings["per_round"]} labels; seeds {settings["seeds"]}; random {settings["draws"]} draws/seed, '
            f'stratified {settings["stratified_draws"]} draws/seed; linear ACE '
            f'{alloy["basis_functions"]} functions',
            '',
            f'Whole-pool fit (the floor; threshold = {THRESHOLD_FACTOR}x it):',
        ]
        for measure, (unit, _) in MEASURES.items():
            lines.append(f'  {measure:<20} {alloy["whole_pool"][measure]:9.2f} {unit}')
        strategies = list(next(iter(summary.values()))['strategies'])
        header = f'  {"measure":<20}{"threshold":>10}' + ''.join(f'{LABELS[s]:>22}' for s in strategies)
        lines += [
            '',
            f'Labels added to reach and stay at the threshold (median [min-max] over seeds x draws; '
            f'not reached within {budget}: counted as {budget}+; n = runs not reaching):',
            header,
        ]
        for measure in MEASURES:
            entry = summary[measure]
            cells = ''
            for strategy in strategies:
                s = entry['strategies'][strategy]
                text = f'{_number(s["labels_median"])} [{_number(s["labels_low"])}-{_number(s["labels_high"])}]'
                text += f' n={s["not_reached"]}' if s['not_reached'] else ''
                cells += f'{text:>22}'
            lines.append(f'  {measure:<20}{entry["threshold"]:>10.3g}{cells}')
        others = [s for s in strategies if s != 'random']
        for kind, title in (
            ('labels', 'Ratio of labels added to reach, strategy / uniform random'),
            ('cost', 'The same, labels weighted by DFT cost (atoms^3)'),
            ('auc', 'Ratio of the areas under the learning curves (error / whole-pool error, mean over labels)'),
        ):
            lines += [
                '',
                f'{title} (median over seeds x draws, bootstrap 95 % interval; * = interval excludes 1):',
                f'  {"measure":<20}' + ''.join(f'{LABELS[s]:>26}' for s in others),
            ]
            for measure in (*REPORTED, *[m for m in MEASURES if m not in REPORTED]):
                cells = ''
                for strategy in others:
                    r = summary[measure]['ratios'][strategy][kind]
                    star = ' *' if r['excludes_one'] else '  '
                    cells += f'{r["median"]:.2f} [{r["low"]:.2f}, {r["high"]:.2f}]{star}'.rjust(26)
                lines.append(f'  {measure:<20}{cells}')
        checks = alloy['checks']
        lines += [
            '',
            'Selection checks (over all seeds): frames chosen that were already labelled / whose planted twin was '
            'labelled; top-ups (frames the rule did not choose); rare frames among the labels added:',
        ]
        for strategy, check in checks.items():
            lines.append(
                f'  {LABELS[strategy]:<20} again {check["picked_again"]:>3}, twin {check["picked_twin"]:>3}, '
                f'top-ups {check["top_ups"]:>4} of {check["labels"]}, rare {100 * check["rare_fraction"]:.1f} %'
            )
        lines += ['', *verdict_lines(name, summary), '']
        if alloy.get('pacemaker'):
            lines += [*pacemaker_table(alloy['pacemaker']), '']
        if alloy.get('md'):
            lines += [*md_table(alloy['md']), '']
    return '\n'.join(lines)


def verdict_lines(name: str, summary: dict) -> list[str]:
    """Return one sentence per (strategy, reported measure): saving, loss or no difference shown."""
    lines = [f'Verdict ({name}; labels to reach 1.25x the whole-pool error, ratio to uniform random):']
    for measure in REPORTED:
        for strategy, ratios in summary[measure]['ratios'].items():
            r = ratios['labels']
            lines.append(
                f'  {LABELS[strategy]:<20} {measure:<20} {verdict(r):<20} '
                f'{r["median"]:.2f} [{r["low"]:.2f}, {r["high"]:.2f}]'
            )
    return lines


def pacemaker_table(check: dict) -> list[str]:
    """Return the table of the non-linear check: each pacemaker fit's errors, and the ratios to random."""
    measures = (*REPORTED, 'typical_energy_rmse')
    lines = [
        f'Non-linear check: pacemaker fits from scratch ({check["functions"]} functions/element, '
        f'{check["maxiter"]} iterations) on the start set plus the frames each strategy chose:',
        f'  {"added":>5} {"seed":>4} {"strategy":<20}' + ''.join(f'{m:>21}' for m in measures) + f'{"fit s":>8}',
    ]
    for fit in sorted(check['fits'], key=lambda f: (f['budget'], f['seed'], f['strategy'])):
        values = ''.join(f'{fit["errors"][m]:>21.1f}' for m in measures) if fit.get('errors') else ' failed'
        lines.append(
            f'  {fit["budget"]:>5} {fit["seed"]:>4} {LABELS[fit["strategy"]]:<20}{values}{fit.get("seconds", 0):>8.0f}'
        )
    ratios = pacemaker_ratios(check)
    if ratios:
        lines.append('  error / uniform random, median over seeds (below 1: the strategy fitted better):')
        for (budget, strategy), values in sorted(ratios.items()):
            lines.append(
                f'  {budget:>5} {"":>4} {LABELS[strategy]:<20}' + ''.join(f'{values[m]:>21.2f}' for m in measures)
            )
    return lines


def pacemaker_ratios(check: dict) -> dict:
    """Return, per (budget, strategy), the median over seeds of each error divided by random's."""
    by_key = {(f['budget'], f['seed'], f['strategy']): f['errors'] for f in check['fits'] if f.get('errors')}
    out = {}
    for (budget, seed, strategy), errors in by_key.items():
        base = by_key.get((budget, seed, 'random'))
        if strategy == 'random' or base is None:
            continue
        out.setdefault((budget, strategy), defaultdict(list))
        for measure, value in errors.items():
            out[(budget, strategy)][measure].append(value / base[measure] if base[measure] else math.nan)
    return {key: {m: float(np.median(v)) for m, v in values.items()} for key, values in out.items()}


def md_summary(md: dict) -> dict:
    """Return per strategy the failures, their Wilson interval, halt reasons and times to gamma_upper."""
    out = {}
    for strategy, runs in md['runs'].items():
        failed = sum(run['failed'] for run in runs)
        times = [run['time_to_gamma_upper_ps'] for run in runs]
        censored = [md['picoseconds'] if t is None else t for t in times]
        reasons = defaultdict(int)
        for run in runs:
            if run['failed']:
                reasons[run['halt_reason'] or ('error' if run['errors'] or run['returncode'] else 'other')] += 1
        out[strategy] = {
            'runs': len(runs),
            'failed': int(failed),
            'interval': wilson_interval(failed, len(runs)),
            'reasons': dict(reasons),
            'reached_gamma_upper': int(sum(t is not None for t in times)),
            'median_time_to_gamma_upper_ps': float(np.median(censored)) if censored else math.nan,
        }
    return out


def md_table(md: dict) -> list[str]:
    """Return the MD robustness table."""
    lines = [
        f'MD robustness: NPT at {md["temperature"]:g} K and 0 GPa, {md["picoseconds"]:g} ps '
        f'({md["timestep_fs"]:g} fs steps), '
        f'gamma_upper {md["gamma_upper"]:g}; cells {", ".join(md["cells"])}; linear potentials after '
        f'{md["labels_added"]} labels added (random and stratified: draw 0), one per seed:',
        f'  {"strategy":<20}{"failed":>10}{"95 % interval":>16}{"gamma > upper":>15}{"median t (ps)":>15}  reasons',
    ]
    for strategy, s in md_summary(md).items():
        low, high = s['interval']
        reasons = ', '.join(f'{k} {v}' for k, v in sorted(s['reasons'].items())) or '-'
        lines.append(
            f'  {LABELS[strategy]:<20}{s["failed"]:>5} / {s["runs"]:<3}{f"[{low:.2f}, {high:.2f}]":>16}'
            f'{s["reached_gamma_upper"]:>15}{s["median_time_to_gamma_upper_ps"]:>15.2f}  {reasons}'
        )
    lines.append('  (median time: runs that never exceeded gamma_upper count as the run length)')
    return lines


def median_curve(runs: list[dict], measure: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return labels and the median, 25th and 75th percentile of ``measure`` over ``runs``."""
    labels = np.asarray(runs[0]['curve']['labels'], dtype=float)
    values = np.array([run['curve'][measure] for run in runs], dtype=float)
    return labels, np.median(values, axis=0), np.percentile(values, 25, axis=0), np.percentile(values, 75, axis=0)


def plot(results: dict, path) -> None:
    """Draw, per alloy, the ratio intervals and the learning curves of the primary measures; save a PNG."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    alloys = list(results['alloys'])
    figure, axes = plt.subplots(len(alloys), 4, figsize=(18, 4.2 * len(alloys)), squeeze=False)
    for row, name in enumerate(alloys):
        alloy = results['alloys'][name]
        summary = alloy['summary']
        axis = axes[row, 0]
        others = [s for s in ('stratified', 'campaign', 'maxvol') if s in summary[REPORTED[0]]['ratios']]
        for k, measure in enumerate(REPORTED):
            for j, strategy in enumerate(others):
                r = summary[measure]['ratios'][strategy]['labels']
                y = k + (j - (len(others) - 1) / 2) * 0.22
                axis.plot([r['low'], r['high']], [y, y], '-', color=COLOURS[strategy], linewidth=2.5)
                axis.plot(r['median'], y, 'o', color=COLOURS[strategy], label=LABELS[strategy] if k == 0 else None)
        axis.axvline(1.0, color='grey', linestyle=':')
        axis.set_xscale('log')
        low, high = axis.get_xlim()
        ticks = [tick for tick in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20) if low <= tick <= high]
        axis.set_xticks(ticks, [f'{tick:g}' for tick in ticks])
        axis.set_xticks([], minor=True)  # matplotlib's minor labels of a short log axis overlap
        axis.set_yticks(range(len(REPORTED)), [m.replace('_', ' ') for m in REPORTED])
        axis.invert_yaxis()
        axis.set_xlabel('labels to reach 1.25x whole pool, ratio to random (95 % CI)')
        axis.set_title(f'{name}: ratio to uniform random', fontsize=10)
        axis.legend(fontsize=8, loc='best')
        grouped = _grouped(alloy['runs'])
        for column, measure in zip((1, 2, 3), PRIMARY):
            axis = axes[row, column]
            for strategy, seeds in grouped.items():
                runs = [run for entries in seeds.values() for run in entries]
                labels, median, low, high = median_curve(runs, measure)
                axis.plot(labels, median, '-', color=COLOURS[strategy], label=LABELS[strategy])
                axis.fill_between(labels, low, high, color=COLOURS[strategy], alpha=0.15)
            axis.axhline(alloy['whole_pool'][measure], color=COLOURS['whole_pool'], label='whole pool')
            axis.axhline(THRESHOLD_FACTOR * alloy['whole_pool'][measure], color='grey', linestyle=':', label='1.25x')
            axis.set_yscale('log')
            axis.set_xlabel('labels added')
            axis.set_ylabel(f'{measure.replace("_", " ")} ({MEASURES[measure][0]})')
            axis.set_title(f'{name}: median and quartiles over seeds x draws', fontsize=10)
            if column == 1:
                axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def docs_section(results: dict, figure: str = '_static/al_efficiency.png') -> str:
    """Return the reStructuredText of the docs page's results section, generated from ``results``."""
    run = results['run']
    load = run['load']
    title = 'Results of the last run'
    lines = [
        '.. This file is written by benchmarks/al_efficiency.py (--docs); do not edit it by hand.',
        '',
        title,
        '-' * len(title),
        '',
        f'Run of {run["date"]} ({run["size"]} size), command ``{run["command"]}``: {run["minutes"]:.1f} minutes '
        f'on {run["cpus"]} CPU cores, load average {load["start"][0]:.2f} at the start and {load["end"][0]:.2f} '
        f'at the end (1 minute), {load["mean"]:.2f} on average over the run.',
        '',
    ]
    if run['size'] != 'default':
        lines += [
            '.. warning::',
            '',
            f'   This is the ``{run["size"]}`` size: it shows the machinery, not the answer. The default run '
            'replaces it.',
            '',
        ]
    lines += [
        f'.. figure:: {figure}',
        '   :width: 100%',
        '',
        '   Left: labels added to reach 1.25 times the whole-pool error, as the ratio of each strategy to '
        'uniform random selection (median and bootstrap 95 % interval over seeds and draws; left of the dotted '
        'line is a saving). Right: learning curves of the three primary measures (median and quartiles).',
        '',
        'What the run says, measure by measure (a saving is claimed only where the interval excludes 1):',
        '',
    ]
    for name, alloy in results['alloys'].items():
        for line in verdict_lines(name, alloy['summary'])[1:]:
            lines.append(f'- {name}: {line.strip()}')
        for strategy, s in md_summary(alloy.get('md') or {'runs': {}}).items():
            lines.append(
                f'- {name}: MD with the {LABELS[strategy]} potential failed {s["failed"]} of {s["runs"]} runs '
                f'(95 % interval {s["interval"][0]:.2f}-{s["interval"][1]:.2f})'
            )
    lines += ['', 'The printed output of the run:', '', '.. code-block:: text', '']
    lines += [f'   {line}'.rstrip() for line in tables(results).splitlines()]
    return '\n'.join(lines) + '\n'
