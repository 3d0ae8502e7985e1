"""The selection benchmark at ``--quick`` size on the real codes: the machinery, not the ratio."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / 'benchmarks' / 'al_efficiency.py'

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    """Run ``al_efficiency.py --quick`` once in its own process and throw-away AiiDA profile."""
    out = tmp_path_factory.mktemp('al_efficiency')
    env = {**os.environ, 'AIIDA_PATH': str(tmp_path_factory.mktemp('aiida'))}
    command = [sys.executable, str(SCRIPT), '--quick', '--target', '1e6', '--out', str(out)]
    process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert process.returncode == 0, process.stderr[-3000:]
    assert 'Ratio labels(gamma)/labels(random): median 1.00' in process.stdout
    payload = json.loads((out / 'results.json').read_text())
    payload['results'] = {int(seed): rows for seed, rows in payload['results'].items()}
    payload['summary']['per_seed'] = {int(seed): row for seed, row in payload['summary']['per_seed'].items()}
    return payload, out


def test_quick_benchmark_scores_both_strategies_on_the_held_out_set(quick_run):
    payload, out = quick_run
    assert (out / 'al_efficiency.png').stat().st_size > 10_000
    assert payload['settings']['seeds'] == [1]
    rows = payload['results'][1]
    assert set(rows) == {'gamma', 'random'}
    start = rows['gamma'][0]
    assert rows['random'][0] == start  # one start set and one start potential for both
    for strategy, table in rows.items():
        assert [row['iteration'] for row in table] == [0, 1]
        # the same number of labels added by each strategy
        assert table[1]['labels'] == start['labels'] + 4, strategy
        # both explored the same trajectories in the first round (same potential)
        assert table[1]['frames_explored'] == rows['gamma'][1]['frames_explored'] > 4
        for row in table:
            assert 0 < row['force_rmse'] <= row['force_max'] and math.isfinite(row['energy_rmse'])
            assert row['force_p95'] <= row['force_max']
    # the gamma strategy labels only frames at or above the campaign's gamma_lower while enough reach it
    explored = rows['gamma'][1]
    assert explored['chosen_above_gamma_lower'] == min(4, explored['above_gamma_lower'])
    assert explored['max_gamma'] > 0 and explored['mean_gamma_chosen'] <= explored['max_gamma']
    summary = payload['summary']
    # a target every potential meets: reached at the start set by both, ratio 1
    assert summary['per_seed'][1]['labels_to_target'] == {'gamma': start['labels'], 'random': start['labels']}
    assert summary['ratio']['median'] == summary['ratio_interpolated']['median'] == 1.0
