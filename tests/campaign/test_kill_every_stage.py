"""Killed at every stage: SIGKILL of the daemon and its broker during labelling, training and exploration.

Two small Al campaigns with pw.x run on the embedded profile's daemon, one after the other, with the
same seed: the first without interruption (the reference), the second killed three times, each
time with the daemon's workers, circus and the ZeroMQ broker at once (SIGKILL, as a crash or a power
cut leaves them): while its pw.x runs label, while pacemaker fits and while the exploration runs.
Each time the documented recovery, ``mlip-autopipe recover``, starts the daemon again.

The killed campaign must complete; none of its pw.x, pacemaker or lmp calculations may have run
twice with the same inputs (no two share a hash), it ran as many of each as the reference, and its
training and held-out sets equal the reference's, frame by frame.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from ..embedded_profile import EmbeddedProfile, wait_for
from .campaign_queries import RECORD, STATE

pytestmark = [pytest.mark.campaign, pytest.mark.slow, pytest.mark.timeout(2400)]

CAMPAIGN = """\
name: {name}
elements: [Al]
temperature: {{min: 300, max: 600, points: 1}}
protocol: fast
labeller: qe
seed: 5
targets: {{force_rmse_mev_a: 100000.0, energy_rmse_mev_atom: 100000.0, high_gamma_fraction: 1.0, consecutive: 1}}
budgets: {{iterations: 1, dft_calculations: 40, wall_time_hours: 1.0}}
exploration: {{steps: 2000, ramp_iterations: 1, gamma_lower: 500.0, gamma_upper: 1000.0}}  # never halts
generation:  # 8 cells of 4 atoms
  max_atoms: 4
  sqs_sizes: [4]
  defect_cell_atoms: 4
  counts: {{strain: 2, random_strain: 2, rattle: 3}}
dft: {{overrides: {{kpoints_distance: 0.5}}, check_labels: false}}  # the label check has its own test
validation: {{properties: [eos], tolerances: {{lattice_a: 1.0, bulk_modulus: 10.0}}}}
"""
TERMINAL = ('finished', 'excepted', 'killed')


@pytest.fixture(scope='module')
def profile(tmp_path_factory):
    profile = EmbeddedProfile(tmp_path_factory.mktemp('kills'), 'kills-test').create()
    (profile.path / 'state.py').write_text(STATE)
    yield profile
    profile.stop()


def submit(profile, name: str) -> int:
    path = profile.path / f'{name}.yaml'
    path.write_text(CAMPAIGN.format(name=name))
    submitted = profile.cli('submit', path).stdout
    return int(submitted.split('ActiveLearningWorkChain<')[1].split('>')[0])


def state(profile, pk: int) -> dict:
    return json.loads(profile.verdi('run', profile.path / 'state.py', pk).stdout.strip().splitlines()[-1])


def running(rows: list[dict]) -> list[dict]:
    return [row for row in rows if row['state'] not in TERMINAL]


#: When to kill: (stage, the condition on the campaign's state)
KILL_POINTS = [
    (
        'labelling',
        lambda s: any(row['exit_status'] == 0 for row in s['pw']) and running(s['pw']) and not s['pacemaker'],
    ),
    ('training', lambda s: any(row['scheduler_state'] == 'running' for row in running(s['pacemaker']))),
    ('exploration', lambda s: bool(running(s['exploration']))),
]


def frames_by_key(frames: list[dict]) -> dict:
    return {frame['config_type']: frame for frame in frames}


def assert_same_frames(killed: list[dict], reference: list[dict]) -> None:
    killed, reference = frames_by_key(killed), frames_by_key(reference)
    assert sorted(killed) == sorted(reference)
    for key, frame in killed.items():
        other = reference[key]
        assert frame['numbers'] == other['numbers'] and frame['positions'] == other['positions'], key
        assert frame['cell'] == other['cell'], key
        assert frame['energy'] == pytest.approx(other['energy'], abs=1e-6), key  # pw.x, same inputs
        np.testing.assert_allclose(frame['forces'], other['forces'], atol=1e-6, err_msg=key)


def ran(calculations: list[dict]) -> list[dict]:
    """Return the calculations that started. A kill between storing a calculation's node and its first state
    leaves a node that never ran (no state, no working directory); its caller, resumed, launches it anew."""
    never = [calc for calc in calculations if calc['state'] is None]
    assert all(calc['workdir'] is None for calc in never), never
    return [calc for calc in calculations if calc['state'] is not None]


def assert_nothing_ran_twice(record: dict, reference: dict) -> None:
    """No two calculations of one kind ran with the same inputs, as many ran as in the reference, each finished
    and computed (not cached), and the pw.x inputs are the reference's (structures, parameters and k-points
    hash alike across campaigns)."""
    for kind in ('pw', 'pacemaker', 'lmp'):
        calculations = ran(record[kind])
        hashes = [calc['hash'] for calc in calculations]
        assert len(set(hashes)) == len(hashes), (kind, calculations)
        assert len(calculations) == len(reference[kind]), kind
        assert all(calc['state'] == 'finished' and not calc['cached'] for calc in calculations), kind
    assert sorted(calc['hash'] for calc in ran(record['pw'])) == sorted(calc['hash'] for calc in reference['pw'])


def test_campaign_killed_during_labelling_training_and_exploration_completes_as_uninterrupted(profile):
    start = time.time()
    profile.start_daemon(workers=1)
    reference_pk = submit(profile, 'kills-reference')
    wait_for(lambda: state(profile, reference_pk), lambda s: s['state'] in TERMINAL, 1500, interval=10)
    reference_seconds = time.time() - start

    pk = submit(profile, 'kills-test')
    kills = []
    for stage, ready in KILL_POINTS:
        before = wait_for(
            lambda: state(profile, pk), lambda s, ready=ready: s['state'] in TERMINAL or ready(s), 900, interval=1
        )
        assert before['state'] not in TERMINAL, f'the campaign ended before the kill during {stage}'
        killed = profile.kill()
        assert killed >= 2, stage  # circus and at least one worker (the broker runs inside circus)
        after = state(profile, pk)
        assert after['state'] not in TERMINAL, (stage, after)  # nobody finished it
        recovered = profile.recover()
        assert 'removed stale broker file' in recovered, (stage, recovered)
        kills.append({'stage': stage, 'processes': killed, 'before': before, 'seconds': time.time() - start})
    wait_for(lambda: state(profile, pk), lambda s: s['state'] in TERMINAL, 1500, interval=10)

    reference = profile.script('record.py', RECORD, reference_pk)
    record = profile.script('record.py', RECORD, pk)
    (profile.path / 'records.json').write_text(json.dumps({'reference': reference, 'killed': record, 'kills': kills}))
    print(f'reference {reference_seconds:.0f} s, all {time.time() - start:.0f} s; records in {profile.path}')

    # both end alike: converged, or on the iteration budget (a one-iteration potential of a few cells may halt
    # an MD run) with the best potential output
    for run in (reference, record):
        assert run['state'] == 'finished' and run['exit_status'] in (0, 401), run['exit_message']
    assert record['exit_status'] == reference['exit_status'], (record['exit_message'], reference['exit_message'])
    # the kills came where they were meant to: pw.x runs, a fit and the exploration still running
    assert [kill['stage'] for kill in kills] == ['labelling', 'training', 'exploration']
    assert_nothing_ran_twice(record, reference)
    # the training and held-out sets are the reference's, frame by frame
    assert_same_frames(record['training_set'], reference['training_set'])
    assert_same_frames(record['held_out_set'], reference['held_out_set'])
    print(f'kill test: {time.time() - start:.0f} s; kills at {[round(kill["seconds"]) for kill in kills]} s')
