"""The selection benchmark at ``--quick`` size on the real codes (EMT, pyace, pacemaker, lmp): the machinery."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / 'benchmarks' / 'al_efficiency.py'
SRC = Path(__file__).parents[2] / 'src'

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    """Run ``al_efficiency.py --quick`` once in its own process, writing a docs section too."""
    out = tmp_path_factory.mktemp('al_efficiency')
    docs = tmp_path_factory.mktemp('docs')
    env = {
        **os.environ,
        'AIIDA_PATH': str(tmp_path_factory.mktemp('aiida')),
        'PYTHONPATH': os.pathsep.join(filter(None, [str(SRC), os.environ.get('PYTHONPATH')])),
    }
    command = [sys.executable, str(SCRIPT), '--quick', '--out', str(out), '--docs', str(docs)]
    process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200, check=False)
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-3000:]
    return json.loads((out / 'results.json').read_text()), out, docs, process.stdout


def test_whole_pool_fit_beats_every_start_fit_on_the_typical_set(quick_run):
    results, *_ = quick_run
    assert set(results['alloys']) == {'Cu-Au', 'Ag-Pd'}
    for name, alloy in results['alloys'].items():
        whole = alloy['whole_pool']['typical_force_rmse']
        starts = {run['seed']: run['curve']['typical_force_rmse'][0] for run in alloy['runs']}
        assert sorted(starts) == results['settings']['seeds']
        for seed, start in starts.items():
            assert whole < start, (name, seed, whole, start)


def test_every_strategy_adds_the_same_labels_per_round_from_the_same_start_set(quick_run):
    results, *_ = quick_run
    settings = results['settings']
    expected = [settings['per_round'] * k for k in range(settings['rounds'] + 1)]
    for alloy in results['alloys'].values():
        starts = {}
        counts = {}
        for run in alloy['runs']:
            assert run['curve']['labels'] == expected
            assert [len(batch) for batch in run['chosen']] == [settings['per_round']] * settings['rounds']
            starts.setdefault(run['seed'], run['start'])
            assert run['start'] == starts[run['seed']]  # one start set per seed for every strategy
            counts[run['strategy']] = counts.get(run['strategy'], 0) + 1
            for measure, values in run['curve'].items():
                assert all(math.isfinite(v) for v in values), measure
        seeds = len(settings['seeds'])
        assert counts == {
            'random': settings['draws'] * seeds,
            'stratified': settings['stratified_draws'] * seeds,
            'campaign': seeds,
            'maxvol': seeds,
        }


def test_maxvol_rules_pick_no_frame_twice_and_no_planted_duplicate(quick_run):
    """What the campaign's rule and MaxVol choose themselves (not the random top-ups that fill a batch
    when a rule finds too few) is never a labelled frame nor the twin of one."""
    results, *_ = quick_run
    for alloy in results['alloys'].values():
        pairs = alloy['pool']['twin_pairs']
        assert len(pairs) == results['settings']['duplicate_pairs']
        partner = {a: b for a, b in pairs} | {b: a for a, b in pairs}
        twin_in_start = chosen_by_rules = 0
        for run in alloy['runs']:
            if run['strategy'] not in ('campaign', 'maxvol'):
                continue
            labelled = list(run['start'])
            twin_in_start += any(i in partner for i in labelled)
            for batch, top_ups in zip(run['chosen'], run['top_ups']):
                own = batch[: len(batch) - top_ups]
                chosen_by_rules += len(own)
                for index in own:
                    assert index not in labelled, (run['strategy'], run['seed'], index)
                    assert partner.get(index) not in labelled, (run['strategy'], run['seed'], index)
                    labelled.append(index)
                labelled += batch[len(own) :]
            assert len(set(labelled)) == len(labelled)
            assert run['picked_again'] == run['picked_twin'] == 0
        assert twin_in_start  # the start sets hold an original of a planted pair: its twin was on offer
        assert chosen_by_rules >= len(results['settings']['seeds']) * results['settings']['per_round']


def test_summary_intervals_checks_and_docs_section(quick_run):
    results, out, docs, stdout = quick_run
    assert (out / 'al_efficiency.png').stat().st_size > 20_000
    assert (docs / '_static' / 'al_efficiency.png').read_bytes() == (out / 'al_efficiency.png').read_bytes()
    section = (docs / 'al_efficiency_results.inc').read_text()
    assert 'quick' in section and '.. figure:: _static/al_efficiency.png' in section
    assert (out / 'tables.txt').read_text().strip() in stdout
    for name, alloy in results['alloys'].items():
        for measure in ('rare_force_p99', 'vacancy_formation', 'vacancy_migration', 'typical_force_rmse'):
            entry = alloy['summary'][measure]
            assert entry['threshold'] == pytest.approx(1.25 * alloy['whole_pool'][measure])
            for strategy in ('stratified', 'campaign', 'maxvol'):
                ratio = entry['ratios'][strategy]['labels']
                assert ratio['low'] <= ratio['median'] <= ratio['high']
        assert f'- {name}: campaign' in section and f'- {name}: D-optimal MaxVol' in section
    cuau = results['alloys']['Cu-Au']
    fits = cuau['pacemaker']['fits']
    assert {fit['strategy'] for fit in fits} == set(results['settings']['pacemaker_strategies'])
    for fit in fits:
        assert 'error' not in fit, fit.get('error')
        assert all(math.isfinite(v) and v > 0 for v in fit['errors'].values())
    md = cuau['md']
    assert set(md['runs']) == {'random', 'stratified', 'campaign', 'maxvol', 'whole_pool'}
    for strategy, runs in md['runs'].items():
        assert len(runs) == 2 * len(results['settings']['seeds'])
        for run in runs:
            assert run['simulated_ps'] > 0 and run['max_gamma'] is not None, (strategy, run)
            assert not run['errors'] and run['returncode'] == 0, (strategy, run)
    assert 'md' not in results['alloys']['Ag-Pd'] and 'pacemaker' not in results['alloys']['Ag-Pd']
