"""The fault-injecting wrappers of the fault test (``tests/faults``) inject what that test expects, and only that.

Run here around a stand-in for the real code (a shell script that records its arguments), so that
they take a second: which runs fail, in which mode and with what they leave behind.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

FAULTS = Path(__file__).parent / 'faults'

PW_INPUT = """\
&CONTROL
  calculation = 'scf'
  outdir = './out/'
  prefix = 'aiida'
/
&SYSTEM
  ecutwfc = 30
/
&ELECTRONS
  conv_thr = 1e-08
/
ATOMIC_SPECIES
Al 26.98 Al.pz-vbc.UPF
ATOMIC_POSITIONS angstrom
Al 0.0 0.0 {x}
K_POINTS automatic
2 2 2 0 0 0
CELL_PARAMETERS angstrom
4.0 0.0 0.0
0.0 4.0 0.0
0.0 0.0 4.0
"""


def install(folder: Path, name: str, settings: dict) -> Path:
    """Copy wrapper ``name`` into ``folder`` with its settings, around a stand-in code; return its path."""
    real = folder / 'real.sh'
    real.write_text('#!/bin/sh\necho "$PWD" >> "$(dirname "$0")/real.log"\n')
    real.chmod(0o755)
    path = folder / f'{name}.py'
    shutil.copy(FAULTS / path.name, path)
    path.with_suffix('.json').write_text(json.dumps({'real': str(real), 'state': str(folder / 'state'), **settings}))
    return path


def run_pw(wrapper: Path, folder: Path, x: float) -> subprocess.CompletedProcess:
    folder.mkdir()
    (folder / 'aiida.in').write_text(PW_INPUT.format(x=x))
    return subprocess.run(
        [sys.executable, wrapper, '-in', 'aiida.in'], cwd=folder, capture_output=True, text=True, timeout=60
    )


def test_pw_wrapper_fails_each_mode_once_and_never_the_same_structure_twice(tmp_path):
    modes = ['nonconvergence', 'crash', 'killed', 'garbage']
    wrapper = install(tmp_path, 'pw_faulty', {'every': 2, 'modes': modes})
    results = {}
    # structure 0.1 fails at run 2; when it runs again (run 4) a fault is due, but it goes to the next structure
    for index, x in enumerate([0.0, 0.1, 0.2, 0.1, 0.3, 0.4, 0.5, 0.6, 0.7]):
        results[index] = run_pw(wrapper, tmp_path / f'run{index}', x)
    faults = [json.loads(line) for line in (tmp_path / 'state' / 'faults.log').read_text().splitlines()]
    assert [fault['mode'] for fault in faults] == modes
    assert [fault['run'] for fault in faults] == [2, 5, 6, 8]
    assert [Path(fault['folder']).name for fault in faults] == ['run1', 'run4', 'run5', 'run7']
    # non-convergence: the real code, with one SCF step
    assert 'electron_maxstep = 1' in (tmp_path / 'run1' / 'aiida.in').read_text()
    # the run that repeats the failed structure is the real code, unchanged
    assert results[3].returncode == 0 and 'electron_maxstep' not in (tmp_path / 'run3' / 'aiida.in').read_text()
    # crash: exit 1 and a CRASH file, the real code not run
    assert results[4].returncode == 1 and (tmp_path / 'run4' / 'CRASH').exists()
    # killed: the wrapper died of SIGKILL
    assert results[5].returncode == -signal.SIGKILL
    # garbage: exit 0, unreadable output and a cut-short XML file where pw.x writes it
    assert results[7].returncode == 0 and 'total energy = ******' in results[7].stdout
    xml = (tmp_path / 'run7' / 'out' / 'aiida.save' / 'data-file-schema.xml').read_text()
    assert xml.startswith('<?xml') and '</qes:espresso>' not in xml
    # every mode used once: the last run is the real code; so were all but the failed ones
    assert results[8].returncode == 0
    real_runs = set((tmp_path / 'real.log').read_text().splitlines()) - {str(tmp_path / 'run5')}  # killed anyway
    assert real_runs == {str(tmp_path / f'run{index}') for index in (0, 1, 2, 3, 6, 8)}


def test_pw_wrapper_on_two_ranks_fails_or_runs_the_job_as_one(tmp_path):
    """A run on two MPI processes: rank 0 decides, rank 1 follows (one count per job, never a lone rank)."""
    import os

    wrapper = install(tmp_path, 'pw_faulty', {'every': 1, 'modes': ['crash']})

    def job(name: str) -> tuple[int, int]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / 'aiida.in').write_text(PW_INPUT.format(x=len(name) / 10))
        ranks = []
        for rank in (1, 0):  # the peer first: it must wait for rank 0's decision
            environment = {**os.environ, 'OMPI_COMM_WORLD_RANK': str(rank)}
            command = [sys.executable, wrapper, '-in', 'aiida.in']
            ranks.append(subprocess.Popen(command, cwd=folder, env=environment))
        peer, first = (process.wait(timeout=60) for process in ranks)
        return first, peer

    assert job('crashed') == (1, 0)  # rank 0 crashes, rank 1 ends without running the code
    assert job('real') == (0, 0)  # no fault left: both ranks run the real code
    state = json.loads((tmp_path / 'state' / 'state.json').read_text())
    assert state['runs'] == 2  # one count per job, not per rank
    assert (tmp_path / 'real.log').read_text().splitlines() == [str(tmp_path / 'real')] * 2


def test_lmp_wrapper_crashes_the_first_matching_run_only(tmp_path):
    wrapper = install(tmp_path, 'lmp_faulty', {'crash_pattern': r'velocity all create 300 '})
    codes = []
    for index, temperature in enumerate([720, 300, 300]):
        folder = tmp_path / f'run{index}'
        folder.mkdir()
        (folder / 'input.in').write_text(f'velocity all create {temperature} 5 dist gaussian\n')
        result = subprocess.run([sys.executable, wrapper, '-in', 'input.in'], cwd=folder, capture_output=True)
        codes.append(result.returncode)
    assert codes == [0, -signal.SIGSEGV, 0]
    # `lmp -h` (what setup runs) is the real code
    assert subprocess.run([sys.executable, wrapper, '-h'], cwd=tmp_path).returncode == 0
    (fault,) = [json.loads(line) for line in (tmp_path / 'state' / 'faults.log').read_text().splitlines()]
    assert fault['mode'] == 'segfault' and Path(fault['folder']) == tmp_path / 'run1'


FAKE_DRIVER = """\
import subprocess, sys
code = subprocess.call([sys.executable, 'fake_pacemaker.py'])
open('driver.log', 'w').write(str(code))
"""
FAKE_PACEMAKER = """\
import time
with open('log.txt', 'w') as log:
    log.write('Iteration:  #0    (1 evals):  Loss: 1.0\\n')
time.sleep(20)
"""


def test_pacemaker_wrapper_kills_the_first_fit_mid_fit_only(tmp_path):
    wrapper = install(tmp_path, 'pacemaker_faulty', {})
    settings = json.loads(wrapper.with_suffix('.json').read_text())
    wrapper.with_suffix('.json').write_text(json.dumps({**settings, 'real': sys.executable}))
    codes = []
    for index in range(2):
        folder = tmp_path / f'run{index}'
        folder.mkdir()
        (folder / 'fake_driver.py').write_text(FAKE_DRIVER)
        (folder / 'fake_pacemaker.py').write_text(FAKE_PACEMAKER.replace('20', '20' if index == 0 else '0'))
        subprocess.run([sys.executable, wrapper, 'fake_driver.py'], cwd=folder, timeout=60, check=True)
        codes.append(int((folder / 'driver.log').read_text()))
    # the first fit was killed with SIGKILL once its log showed an iteration; the driver went on
    assert codes == [-signal.SIGKILL, 0]
    (fault,) = [json.loads(line) for line in (tmp_path / 'state' / 'faults.log').read_text().splitlines()]
    assert fault['mode'] == 'sigkill' and Path(fault['folder']) == tmp_path / 'run0'
