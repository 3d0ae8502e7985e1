"""Run pacemaker, pace_yaml2yace and pace_activeset: the driver of a pacemaker job.

Usage: python run_pacemaker.py [soft time limit in seconds] [active-set batch size] [r_in margin in A]
                                [job memory limit in kB]

pacemaker is stopped (SIGTERM) at the soft time limit; its interim potential stays. Each step's
exit status (or "timeout") goes to status.json, and so does what pacemaker fitted ("datasets":
structure counts, structures left out, weight spreads) and its memory ("memory": peak resident set,
the lowest memory limit, out-of-memory kills in the job's cgroup during the fit).

``PacemakerCalculation`` copies this file, as it is shipped in the package, into the job's folder;
the pacemaker environment's Python runs it there and finds ``pacemaker``, ``pace_yaml2yace`` and
``pace_activeset`` beside itself. It imports nothing of the plugin (numpy and pandas, which that
environment has, only inside functions), and importing it runs nothing, so its functions are tested
on their own (:mod:`aiida_mlip_autopipe.training.pacemaker_io` imports them).
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

STATUS = 'status.json'
DATA = 'data.pckl.gzip'
FITTING_INFO = 'fitting_data_info.pckl.gzip'
TEST_INFO = 'test_data_info.pckl.gzip'
POTENTIAL_YAML = 'output_potential.yaml'


def lower_inner_cutoff(text: str, margin: float) -> str:
    """Return a B-basis YAML ``text`` with every block's inner cutoff ``r_in`` moved ``margin`` A lower.

    pacemaker's ``repulsion: auto`` puts ``r_in`` at the shortest distance of each pair in the
    training data and switches to ZBL over the 0.1 A below it. Nothing was fitted there, and a
    potential could give forces of hundreds of eV/A to atoms only slightly closer than any training
    pair (hot MD reaches them). Moving the switch lower changes nothing at or above the old
    ``r_in``, so every training prediction stays the same.
    """

    def lowered(match):
        return f'{match.group(1)}{max(float(match.group(2)) - margin, 0.0)!r}'

    return re.sub(r'^([ \t]*r_in:[ \t]*)([-+0-9.eE]+)[ \t]*$', lowered, text, flags=re.MULTILINE)


def activeset_needs_all_atoms(log: str) -> bool:
    """Return whether a failed ``pace_activeset`` (its log ``log``) should run again on every atom.

    ``pace_activeset`` first drops the atoms whose force error is an outlier (above Q3 + 1.5 IQR of
    their element). In a small training set that can leave fewer environments of an element than its
    functions ("Insufficient atomic environments") or environments that no longer span them (MaxVol:
    "Input matrix must not be singular"; seen in the refit of a quaternary campaign, where every atom
    together gave a full rank). Both are retried with ``--all-atoms``.
    """
    return 'Insufficient atomic environments' in log or 'Input matrix must not be singular' in log


def dataset_summary(structure_count: int, fit, test=None) -> dict:
    """Return which structures pacemaker fitted and how unequal their weights were.

    ``fit`` and ``test`` are pacemaker's ``fitting_data_info`` and ``test_data_info`` DataFrames
    (``test`` None without a test split): ``name`` is ``<data file>:<row>``, ``w_energy`` the energy
    weight of each structure and ``w_forces`` the force weight of each atom. ``structure_count``
    is the number of rows written to the data file. Returns the fit and test structure counts, the
    rows pacemaker left out (e.g. dropped by its weighting policy) and the ratio of the largest to
    the smallest energy and force weight (1 with uniform weights of same-size structures).
    """
    import numpy as np

    used = set()
    summary = {}
    for key, frame in (('fit', fit), ('test', test)):
        if frame is None:
            continue
        summary[f'{key}_structure_count'] = len(frame)
        used.update(int(str(name).rsplit(':', 1)[1]) for name in frame['name'])
    summary['dropped_structures'] = sorted(set(range(structure_count)) - used)
    energy_weights = np.asarray(fit['w_energy'], dtype=float)
    force_weights = np.concatenate([np.ravel(value) for value in fit['w_forces']]).astype(float)
    summary['energy_weight_spread'] = float(energy_weights.max() / energy_weights.min())
    summary['force_weight_spread'] = float(force_weights.max() / force_weights.min())
    return summary


def cgroup_memory(proc_cgroup: str = '/proc/self/cgroup', root: str = '/sys/fs/cgroup') -> dict:
    """Return the memory limit (kB) and the out-of-memory kills so far of this process's memory cgroup.

    Read from cgroup v2 (``memory.max``, ``memory.events``) or v1 (``memory.limit_in_bytes``,
    ``memory.oom_control``), whichever this process is in; ``None`` for what cannot be read (no
    memory cgroup, no limit). Only reads files. The kernel log (``dmesg``) is not readable for a job.
    """
    found = {'limit_kb': None, 'oom_kills': None}
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return found
    candidates = []
    for line in lines:
        parts = line.split(':', 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        relative = path.strip().lstrip('/')
        if controllers == '':  # cgroup v2, mounted at the root or (hybrid) under `unified`
            for mount in (Path(root), Path(root) / 'unified'):
                candidates += [(folder, 'memory.max', 'memory.events') for folder in (mount / relative, mount)]
        elif 'memory' in controllers.split(','):
            mount = Path(root) / 'memory'
            candidates += [
                (mount / relative, 'memory.limit_in_bytes', 'memory.oom_control'),
                (mount, 'memory.limit_in_bytes', 'memory.oom_control'),
            ]
    for folder, limit_name, events_name in candidates:
        try:
            events = (folder / events_name).read_text()
        except OSError:
            continue
        for line in events.splitlines():
            key, _, value = line.partition(' ')
            if key == 'oom_kill' and value.strip().isdigit():
                found['oom_kills'] = int(value)
        try:
            limit = (folder / limit_name).read_text().strip()
            if limit.isdigit() and int(limit) < 2**60:  # v1 writes a huge number for no limit, v2 `max`
                found['limit_kb'] = int(limit) // 1024
        except OSError:
            pass
        return found
    return found


def memory_record(before: dict, max_memory_kb: int | None, peak_rss_kb: int, meminfo: str = '/proc/meminfo') -> dict:
    """Return the memory evidence of a pacemaker run: its peak RSS, the lowest memory limit, cgroup OOM kills.

    ``before`` is :func:`cgroup_memory` before the run, ``max_memory_kb`` the job's memory option and
    ``peak_rss_kb`` the largest resident set of the driver's children (``ru_maxrss``). The limit is
    the lowest of the cgroup's, the job's and the machine's memory.
    """
    after = cgroup_memory()
    limits = [after['limit_kb'], max_memory_kb]
    try:
        lines = Path(meminfo).read_text().splitlines()
        limits += [int(line.split()[1]) for line in lines if line.startswith('MemTotal:')]
    except (OSError, ValueError, IndexError):
        pass
    limits = [limit for limit in limits if limit]
    record = {'peak_rss_kb': int(peak_rss_kb), 'limit_kb': min(limits) if limits else None}
    if before.get('oom_kills') is not None and after['oom_kills'] is not None:
        record['oom_kills'] = after['oom_kills'] - before['oom_kills']
    return record


def _argument(argv: list[str], index: int, kind, default=None):
    """Return ``argv[index]`` as ``kind``, or ``default`` where it is missing or ``none``."""
    return kind(argv[index]) if len(argv) > index and argv[index] != 'none' else default


def main(argv: list[str]) -> int:
    """Run the three steps in the working directory; ``argv`` as in the usage above. Returns 0."""
    start = time.monotonic()
    limit = _argument(argv, 0, float)
    activeset_batch = _argument(argv, 1, str)
    margin = _argument(argv, 2, float, 0.0)
    memory_limit = _argument(argv, 3, int)
    bin_dir = Path(sys.executable).parent
    status = {'steps': {}, 'seconds': {}}

    def save():
        Path(STATUS).write_text(json.dumps(status, indent=1, sort_keys=True))

    def step(name, command, out, err=None, timeout=None):
        began = time.monotonic()
        with open(out, 'w') as stdout, open(err or out, 'a') as stderr:
            process = subprocess.Popen(
                [str(bin_dir / command[0]), *command[1:]], stdout=stdout, stderr=stderr if err else subprocess.STDOUT
            )
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                code = 'timeout'
        status['steps'][name] = code
        status['seconds'][name] = round(time.monotonic() - began, 1)
        save()
        return code

    save()
    remaining = None if limit is None else max(limit - (time.monotonic() - start), 1.0)
    fit = ['pacemaker', 'input.yaml', '--no-predict']
    convert = ['pace_yaml2yace', POTENTIAL_YAML, '-o', 'output_potential.yace']
    batch = ['-b', activeset_batch] if activeset_batch else []
    memory_before = cgroup_memory()
    fit_status = step('pacemaker', fit, 'pacemaker.out', 'pacemaker.err', remaining)
    try:  # evidence for telling an out-of-memory kill from another one
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB: the largest child, pacemaker
        status['memory'] = memory_record(memory_before, memory_limit, peak)
    except Exception as exception:  # a record, never a reason to fail the job
        status['memory_error'] = repr(exception)[:300]
    save()
    if Path(FITTING_INFO).exists():
        try:  # which structures pacemaker fitted, with which weights
            import pandas as pd

            test = Path(TEST_INFO)
            status['datasets'] = dataset_summary(
                len(pd.read_pickle(DATA, compression='gzip')),
                pd.read_pickle(FITTING_INFO, compression='gzip'),
                pd.read_pickle(test, compression='gzip') if test.exists() else None,
            )
        except Exception as exception:  # a summary, never a reason to fail the job
            status['datasets_error'] = repr(exception)[:300]
        save()
    if fit_status == 0:
        if margin > 0 and Path(POTENTIAL_YAML).exists():
            fitted = Path(POTENTIAL_YAML).read_text()
            Path(POTENTIAL_YAML).write_text(lower_inner_cutoff(fitted, margin))
            status['inner_cutoff_lowered_by'] = margin
        if step('pace_yaml2yace', convert, 'yaml2yace.log') == 0:
            # the active set is built from every labelled environment: the train and the test structures
            datasets = [arg for name in (FITTING_INFO, TEST_INFO) if Path(name).exists() for arg in ('-d', name)]
            activeset = ['pace_activeset', *datasets, *batch, POTENTIAL_YAML]
            if step('pace_activeset', activeset, 'activeset.log') != 0:
                if activeset_needs_all_atoms(Path('activeset.log').read_text()):
                    # pace_activeset first drops atoms with outlying force errors; small sets need them all
                    Path('activeset.log').rename('activeset_filtered.log')
                    status['activeset_all_atoms'] = True
                    step('pace_activeset', [*activeset[:-1], '--all-atoms', activeset[-1]], 'activeset.log')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
