"""Faults injected into a whole campaign through the daemon: failing pw.x runs, a killed fit, a crashing MD run.

A small Al campaign (4-atom cells, pw.x ``fast`` protocol, k-point distance 0.5, one iteration) runs
on the embedded profile's daemon with fault-injecting wrappers around the real codes
(``tests/faults/*_faulty.py``, registered as codes of their own):

- pw.x: from every fifth run on, a run of a structure that has not failed yet fails, in turn by
  non-convergence, a crash, a SIGKILL and garbage output (each once);
- pacemaker: the first fit is killed with SIGKILL once its log shows an iteration;
- lmp: the first MD run at 300 K crashes with a segmentation fault.

The campaign must run to its end: every injected pw.x failure must be on the graph as a failed
``PwCalculation`` with its exit status and message, followed by aiida-quantumespresso's handler
(non-convergence) or the restart of a failure no handler knows, and a successful run of the same
structure; no structure may lose its label; the killed fit must be restarted and succeed; the
crashed MD run must be recorded in the exploration report while the campaign goes on to the
validation. A failed MD run leaves the stop rule's "no run halted or failed" criterion unmet, so
the campaign ends on its iteration budget (exit 401, the best potential output), not converged.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from aiida_mlip_autopipe.setup import default_executable

from ..embedded_profile import EmbeddedProfile, wait_for
from .campaign_queries import RECORD, REGISTER, STATE

pytestmark = [pytest.mark.campaign, pytest.mark.slow, pytest.mark.timeout(2400)]

FAULTS = Path(__file__).parents[1] / 'faults'
PW_MODES = ['nonconvergence', 'crash', 'killed', 'garbage']

CAMPAIGN = """\
name: faults-test
elements: [Al]
temperature: {min: 300, max: 600, points: 1}
protocol: fast
labeller: qe
seed: 5
targets: {force_rmse_mev_a: 100000.0, energy_rmse_mev_atom: 100000.0, high_gamma_fraction: 1.0, consecutive: 1}
budgets: {iterations: 1, dft_calculations: 40, wall_time_hours: 1.0}
exploration: {steps: 200, ramp_iterations: 1, gamma_lower: 500.0, gamma_upper: 1000.0}  # seldom halts
generation:  # 14 cells of 4 atoms
  max_atoms: 4
  sqs_sizes: [4]
  defect_cell_atoms: 4
  strain_points: 4
  counts: {strain: 4, random_strain: 4, rattle: 5}
dft: {overrides: {kpoints_distance: 0.5}, check_labels: false}  # the label check has its own test
validation: {properties: [eos], tolerances: {lattice_a: 1.0, bulk_modulus: 10.0}}  # the faults are under test
codes: {pw: pw-faulty@localhost, pacemaker: pacemaker-faulty@localhost, lmp: lmp-faulty@localhost}
"""


def install_wrappers(folder: Path) -> dict[str, Path]:
    """Copy the fault-injecting wrappers into ``folder`` with their settings; return their paths by code label."""
    settings = {
        'pw_faulty': {'real': shutil.which('pw.x'), 'every': 5, 'modes': PW_MODES},
        'pacemaker_faulty': {'real': default_executable('pacemaker')},
        'lmp_faulty': {'real': default_executable('lmp'), 'crash_pattern': r'velocity all create 300 '},
    }
    paths = {}
    for name, values in settings.items():
        path = folder / f'{name}.py'
        shutil.copy(FAULTS / path.name, path)
        path.chmod(0o755)
        path.with_suffix('.json').write_text(json.dumps({**values, 'state': str(folder / f'{name}_state')}))
        paths[name.replace('_faulty', '-faulty')] = path
    return paths


def injected(folder: Path, name: str) -> list[dict]:
    log = folder / f'{name}_state' / 'faults.log'
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture(scope='module')
def profile(tmp_path_factory):
    profile = EmbeddedProfile(tmp_path_factory.mktemp('faults'), 'faults-test').create()
    yield profile
    profile.stop()


def test_campaign_completes_through_injected_faults_and_records_each(profile):
    start = time.time()
    folder = profile.path / 'wrappers'
    folder.mkdir()
    wrappers = install_wrappers(folder)
    plugins = {
        'pw-faulty': 'quantumespresso.pw',
        'pacemaker-faulty': 'mlip_autopipe.pacemaker',
        'lmp-faulty': 'lammps.raw',
    }
    arguments = [item for label, path in wrappers.items() for item in (label, plugins[label], path)]
    profile.script('register.py', REGISTER, *arguments)
    (profile.path / 'campaign.yaml').write_text(CAMPAIGN)
    profile.start_daemon(workers=1)
    submitted = profile.cli('submit', profile.path / 'campaign.yaml').stdout
    pk = int(submitted.split('ActiveLearningWorkChain<')[1].split('>')[0])

    (profile.path / 'state.py').write_text(STATE)
    wait_for(
        lambda: json.loads(profile.verdi('run', profile.path / 'state.py', pk).stdout.strip().splitlines()[-1]),
        lambda state: state['state'] in ('finished', 'excepted', 'killed'),
        2100,
        interval=10,
    )
    record = profile.script('record.py', RECORD, pk)
    (profile.path / 'record.json').write_text(json.dumps(record, indent=1))
    print(f'campaign {pk} ended after {time.time() - start:.0f} s; record in {profile.path / "record.json"}')

    # the campaign ran to its end: the failed MD run keeps it from converging in its one iteration, so it
    # stopped on the iteration budget (401), shipped the potential and validated it
    assert record['state'] == 'finished' and record['exit_status'] == 401, record['exit_message']
    assert record['stop_reason'].startswith('iteration budget spent'), record['stop_reason']
    assert record['potential'] and record['validation'] and record['training_set']

    # pw.x: the four injected failures, each a failed PwCalculation followed by a successful run of the same structure
    faults = injected(folder, 'pw_faulty')
    assert [fault['mode'] for fault in faults] == PW_MODES, faults
    by_folder = {calc['workdir']: calc for calc in record['pw']}
    for fault in faults:
        calc = by_folder[os.path.realpath(fault['folder'])]
        assert calc['exit_status'] not in (0, None) and calc['exit_message'], (fault, calc)
        reports = '\n'.join(calc['caller_reports'])
        if fault['mode'] == 'nonconvergence':  # aiida-quantumespresso's handler
            assert calc['exit_status'] == 410, calc
            assert f'PwCalculation<{calc["pk"]}> failed with exit status 410' in reports
            assert 'Action taken: reduced beta mixing' in reports
        else:  # no handler knows a crash, a kill or garbage: the same inputs run once more
            assert calc['exit_status'] < 400, calc
            assert f'PwCalculation<{calc["pk"]}> failed with an unhandled failure, restarting once more' in reports
        assert calc['caller_exit_status'] == 0, calc  # the PwBaseWorkChain ended with a label
        again = [other for other in record['pw'] if other['caller'] == calc['caller'] and other['pk'] > calc['pk']]
        assert again and again[-1]['exit_status'] == 0 and again[-1]['structure'] == calc['structure'], again

    # no label lost: every labelling labelled every structure it was given, and the campaign's labels are all used
    callers = {labelling['caller'] for labelling in record['labellings']}
    assert callers == {'ActiveLearningWorkChain', 'ValidationWorkChain'}
    for labelling in record['labellings']:
        assert labelling['exit_status'] == 0 and labelling['failures'] == {}, labelling
        assert labelling['labelled'] == labelling['keys'], labelling
    # the first batch (a run that halts on its first gamma check may add its frame in a second one)
    (first,) = [labelling for labelling in record['labellings'] if labelling['link_label'] == 'labelling_00']
    campaign_keys = {
        key
        for labelling in record['labellings']
        if labelling['caller'] == 'ActiveLearningWorkChain'
        for key in labelling['keys']
    }
    used = {frame['config_type'] for frame in record['training_set'] + (record['held_out_set'] or [])}
    assert set(first['keys']) <= used <= campaign_keys and len(first['keys']) == 14

    # pacemaker: killed once mid-fit (332, no memory evidence), run again with the same inputs, then fitted
    (kill,) = injected(folder, 'pacemaker_faulty')
    assert kill['mode'] == 'sigkill', kill
    killed, refit, *later = record['pacemaker']  # later: the refit on a second batch, if any
    assert all(fit['exit_status'] == 0 for fit in later), later
    assert killed['workdir'] == os.path.realpath(kill['folder'])
    assert killed['exit_status'] == 332 and 'killed (SIGKILL)' in killed['exit_message'], killed
    assert killed['caller'] == refit['caller'] and refit['exit_status'] == 0 and refit['caller_exit_status'] == 0
    assert f'PacemakerCalculation<{killed["pk"]}> failed with an unhandled failure, restarting once more' in (
        '\n'.join(killed['caller_reports'])
    )

    # lmp: the 300 K run crashed; the exploration recorded it, selected from the other run, the campaign went on
    (crash,) = injected(folder, 'lmp_faulty')
    crashed = {calc['workdir']: calc for calc in record['lmp']}[os.path.realpath(crash['folder'])]
    assert crashed['exit_status'] not in (0, None), crashed
    (exploration,) = record['explorations']
    assert exploration['exit_status'] == 0 and exploration['runs_total'] == 2 and exploration['runs_failed'] == 1
    failures = [failure for failure in exploration['failures'].values() if failure]
    assert len(failures) == 1 and failures[0].startswith('exit '), exploration
    assert record['iterations'][0]['runs_failed'] == 1
    print(f'faults test: {time.time() - start:.0f} s')
