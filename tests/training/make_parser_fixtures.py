"""Capture real pacemaker output for the parser tests (``tests/training/fixtures/<case>/``).

Each case runs the job's own driver (``run_pacemaker.py``) with pacemaker's environment on a
tiny EMT Cu-Au set, then keeps the retrieved files, with long logs trimmed. Run from the
repository root (about 5 minutes)::

    .venv/bin/python tests/training/make_parser_fixtures.py [case ...]
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / 'src'))

from aiida_mlip_autopipe.setup import default_executable  # noqa: E402
from aiida_mlip_autopipe.training import pacemaker_io as io  # noqa: E402

SMALL = io.PacemakerParameters(number_of_functions_per_element=8, maxiter=3, test_size=0.2, display_step=1)


def frames(count=20, seed=1):
    spec = importlib.util.spec_from_file_location('make_ace_cuau', REPO / 'tests' / 'fixtures' / 'make_ace_cuau.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.emt_cuau_frames(count, seed)


def run(work: Path, parameters=SMALL, data=None, limit=None, data_filename=io.DATA_FILENAME, env=None):
    """Write the inputs into ``work`` and run the driver as the job would."""
    io.write_pacemaker_dataframe(data if data is not None else frames(), work / io.DATA_FILENAME)
    io.write_pacemaker_input(work / io.INPUT_FILENAME, parameters, ['Au', 'Cu'], data_filename)
    (work / io.DRIVER_FILENAME).write_text(io.DRIVER_SCRIPT)
    command = [default_executable('pacemaker'), *io.driver_arguments(limit)]
    subprocess.run(command, cwd=work, check=False, env={**os.environ, **(env or {})})


def keep(work: Path, case: str) -> None:
    """Copy the retrieved files of ``work`` into ``fixtures/<case>``, trimming long logs."""
    target = HERE / 'fixtures' / case
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in io.RETRIEVE_LIST:
        source = work / name
        if not source.exists():
            continue
        if name in (io.LOG_FILENAME, io.PACEMAKER_STDERR, io.PACEMAKER_STDOUT, io.ACTIVESET_LOG):
            lines = source.read_text(errors='replace').splitlines()
            if len(lines) > 80:
                lines = [*lines[:20], f'[... {len(lines) - 80} lines trimmed ...]', *lines[-60:]]
            (target / name).write_text('\n'.join(lines) + '\n')
        elif name in io.METRICS_FILES:
            (target / name).write_text(trim_table(source.read_text()))
        else:
            shutil.copy(source, target / name)


def trim_table(text: str, keep: int = 10) -> str:
    """Keep the header, the first and the last ``keep`` rows of a long metrics table."""
    lines = text.splitlines(keepends=True)
    if len(lines) <= 2 * keep + 1:
        return text
    return ''.join([*lines[: keep + 1], *lines[-keep:]])


def case_success(work):
    run(work)


def case_nan_loss(work):
    data = frames()
    data[3].calc.results['forces'][0, 0] = 1e300
    run(work, data=data)


def case_time_limit(work):
    run(work, parameters=SMALL.model_copy(update={'maxiter': 5000}), limit=150)


def start_long_fit(work, max_memory_kb=None):
    """Start the driver on a fit of 5000 iterations; return it and pacemaker's process id."""
    io.write_pacemaker_dataframe(frames(), work / io.DATA_FILENAME)
    io.write_pacemaker_input(work / io.INPUT_FILENAME, SMALL.model_copy(update={'maxiter': 5000}), ['Au', 'Cu'])
    (work / io.DRIVER_FILENAME).write_text(io.DRIVER_SCRIPT)
    arguments = io.driver_arguments(None, max_memory_kb=max_memory_kb)
    driver = subprocess.Popen([default_executable('pacemaker'), *arguments], cwd=work)
    while True:
        found = subprocess.run(['pgrep', '-P', str(driver.pid)], capture_output=True, text=True).stdout.split()
        if found:
            return driver, int(found[0])
        time.sleep(0.05)


def resident_kb(pid: int) -> int:
    """Return the resident set (kB) of process ``pid`` (0 once it is gone)."""
    try:
        status = Path(f'/proc/{pid}/status').read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith('VmRSS:')), 0)


def case_killed(work):
    # a SIGKILL that is not about memory (a scheduler's time or preemption, a user): pacemaker mid-fit
    driver, pacemaker = start_long_fit(work)
    while not (work / 'metrics.txt').exists() or len((work / 'metrics.txt').read_text().splitlines()) < 3:
        time.sleep(1)
    os.kill(pacemaker, signal.SIGKILL)
    driver.wait()


def case_out_of_memory(work):
    # a scheduler enforcing the job's memory (`max_memory_kb`) as Slurm does without cgroups: SIGKILL once
    # pacemaker's resident set passes it; the driver records the peak against the job's limit
    limit_kb = 400_000
    driver, pacemaker = start_long_fit(work, max_memory_kb=limit_kb)
    while driver.poll() is None and resident_kb(pacemaker) <= limit_kb:
        time.sleep(0.02)
    os.kill(pacemaker, signal.SIGKILL)
    driver.wait()


def case_missing_potential(work):
    run(work, data_filename='no_such_data.pckl.gzip')


def case_tensorflow(work):
    # a mis-set environment (as a cluster module might leave): TensorFlow aborts on the unknown XLA flag
    run(work, env={'TF_XLA_FLAGS': '--bogus_flag'})


def case_active_set_failed(work):
    run(work)
    (work / io.OUTPUT_ASI).unlink(missing_ok=True)
    with open(work / io.ACTIVESET_LOG, 'w') as log:
        command = [str(Path(default_executable('pacemaker')).parent / 'pace_activeset'), '-d', 'missing.pckl.gzip']
        code = subprocess.run([*command, io.OUTPUT_YAML], cwd=work, stdout=log, stderr=subprocess.STDOUT).returncode
    status = json.loads((work / io.STATUS_FILENAME).read_text())
    status['steps']['pace_activeset'] = code
    (work / io.STATUS_FILENAME).write_text(json.dumps(status, indent=1, sort_keys=True))


def case_yace_conversion(work):
    # the conversion cannot write its output (as on a full or read-only disk): pace_yaml2yace's own error
    run(work)
    for name in (io.OUTPUT_ASI, io.OUTPUT_YACE, io.ACTIVESET_LOG):
        (work / name).unlink(missing_ok=True)
    with open(work / io.YACE_LOG, 'w') as log:
        command = [str(Path(default_executable('pacemaker')).parent / 'pace_yaml2yace'), io.OUTPUT_YAML]
        command += ['-o', f'no_such_folder/{io.OUTPUT_YACE}']
        code = subprocess.run(command, cwd=work, stdout=log, stderr=subprocess.STDOUT).returncode
    status = json.loads((work / io.STATUS_FILENAME).read_text())
    status['steps'] = {'pacemaker': 0, 'pace_yaml2yace': code}
    status['seconds'].pop('pace_activeset', None)
    (work / io.STATUS_FILENAME).write_text(json.dumps(status, indent=1, sort_keys=True))


CASES = {name[5:]: function for name, function in globals().items() if name.startswith('case_')}

if __name__ == '__main__':
    for case in sys.argv[1:] or CASES:
        with tempfile.TemporaryDirectory() as folder:
            CASES[case](Path(folder))
            keep(Path(folder), case)
            print(case, json.loads((HERE / 'fixtures' / case / io.STATUS_FILENAME).read_text()))
