"""When codes ran and how busy they kept the cores: pure helpers on run times, and readers of AiiDA nodes.

Times are seconds since the epoch (``datetime.timestamp()``). A code run is the interval in which the
code itself ran: it ends when AiiDA retrieved its files (the ``retrieved`` node's creation) and
started its own wall time before that (pw.x's ``wall_time_seconds``, LAMMPS's ``wall_time_s``, the
pacemaker driver's step times, the surrogate's ``total_seconds``; else the job's time from upload to
retrieval, see :func:`code_seconds`). Orchestration (upload, queueing, polling, parsing, the work
chains' steps) is everything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

PW_PROCESS_TYPE = 'aiida.calculations:quantumespresso.pw'
#: Extra of a labelling work chain on the local machine: the machine's cores, which a window wider than them shares.
MACHINE_CORES_EXTRA = 'machine_cores'


@dataclass(frozen=True)
class CodeRun:
    """One run of a code: its start and end (s since the epoch), the MPI processes it held and, where the code
    tells it, the CPU time it used (all processes)."""

    start: float
    end: float
    processes: int = 1
    label: str = ''
    cpu: float | None = None

    @property
    def wall_seconds(self) -> float:
        """Wall time of the run (s)."""
        return max(self.end - self.start, 0.0)

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds of the run: the code's own count where known, else wall time x processes (an upper bound:
        processes that shared a core, or waited, count in full)."""
        return self.cpu if self.cpu is not None else self.wall_seconds * self.processes


#: pw.x's closing timing line, e.g. ``PWSCF        :   1m23.45s CPU   1m25.00s WALL``.
PWSCF_TIMING = re.compile(r'^\s*PWSCF\s*:\s*(?P<cpu>.+?)\s+CPU\s+(?P<wall>.+?)\s+WALL\s*$', re.MULTILINE)
DURATION_PART = re.compile(r'(?P<value>\d+(?:\.\d*)?)(?P<unit>[hms])')


def duration_seconds(text: str) -> float | None:
    """Return the seconds of a pw.x duration (``2.97s``, ``1m23.45s``, ``1h 5m``); ``None`` if it is not one."""
    parts = DURATION_PART.findall(text)
    if not parts or DURATION_PART.sub('', text).strip():
        return None
    return sum(float(value) * {'h': 3600, 'm': 60, 's': 1}[unit] for value, unit in parts)


def pw_cpu_seconds(output: str) -> float | None:
    """Return the CPU seconds of the first MPI rank from pw.x's output (its last ``PWSCF ... CPU ... WALL`` line)."""
    matches = PWSCF_TIMING.findall(output)
    return duration_seconds(matches[-1][0]) if matches else None


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Return the length of the union of ``(start, end)`` intervals: the time during which at least one ran."""
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def idle_gaps(intervals: Iterable[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """Return the ``(start, end)`` stretches of ``[start, end]`` in which none of ``intervals`` ran, in order."""
    gaps, reach = [], start
    for first, last in sorted(interval for interval in intervals if interval[1] > interval[0]):
        if first > reach:
            gaps.append((reach, min(first, end)))
        reach = max(reach, last)
        if reach >= end:
            break
    if reach < end:
        gaps.append((reach, end))
    return [(first, last) for first, last in gaps if last > first]


def core_saturation(runs: Iterable[CodeRun], cores: int, start: float, end: float) -> float | None:
    """Return the share of ``cores`` the ``runs`` kept busy from ``start`` to ``end``.

    CPU seconds of the runs (:attr:`CodeRun.cpu_seconds`) / (``cores`` x (``end`` - ``start``)); ``None`` for an
    empty span or no cores. 1.0 means no core was ever idle; a run that held its cores waiting (on
    I/O, or on another MPI rank) still counts as busy.
    """
    span = end - start
    if span <= 0 or cores < 1:
        return None
    return sum(run.cpu_seconds for run in runs) / (cores * span)


def orchestration_overhead(start: float, end: float, runs: Iterable[CodeRun]) -> float | None:
    """Return wall time / time in which any code ran, from ``start`` to ``end`` (1.0: a code ran all the time).

    With stages that follow each other and runs inside a stage that overlap, the time in which any code
    ran is the summed code time along the critical path; what exceeds it is orchestration, or waiting.
    """
    busy = union_seconds((max(run.start, start), min(run.end, end)) for run in runs)
    return (end - start) / busy if busy > 0 else None


# -- readers of AiiDA nodes ------------------------------------------------------------------------


def process_end(node) -> float:
    """Return when ``node`` ended, as best the graph tells: the creation of its last output or the end of the last
    process it called, whichever is later (else its ctime; a campaign that failed before any output still has
    the processes it ran)."""
    from aiida.common.links import LinkType

    outputs = node.base.links.get_outgoing(link_type=(LinkType.CREATE, LinkType.RETURN)).all_nodes()
    called = getattr(node, 'called', [])
    return max([node.ctime.timestamp(), *(output.ctime.timestamp() for output in outputs), *map(process_end, called)])


def calcjob_processes(node) -> int:
    """Return the MPI processes a calculation job asked for (machines x processes per machine)."""
    resources = node.get_option('resources') or {}
    machines = resources.get('num_machines', 1) or 1
    per_machine = resources.get('num_mpiprocs_per_machine') or resources.get('tot_num_mpiprocs') or 1
    return int(machines * per_machine)


#: Where a code's own wall time is in its outputs, as (output, key); a dict of times is summed.
CODE_SECONDS = (
    ('output_parameters', 'wall_time_seconds'),  # pw.x
    ('output_parameters', 'total_seconds'),  # the surrogate
    ('report', 'wall_time_s'),  # lmp (whole seconds)
    ('metrics', 'step_seconds'),  # the pacemaker driver, per step
)


def code_seconds(node) -> float | None:
    """Return the wall time the code of a calculation job ran (s), or ``None`` when nothing tells it.

    From the code's own output where the parser keeps it (:data:`CODE_SECONDS`), else the time from
    the job's upload (its ``remote_folder``) to the retrieval of its files: an upper bound that also
    holds the submission, the scheduler's notice of the end (one poll interval) and any queueing.
    A job served from the cache ran nothing: 0.
    """
    if node.base.caching.is_created_from_cache:
        return 0.0
    for output, key in CODE_SECONDS:
        if output in node.outputs and hasattr(node.outputs[output], 'get_dict'):
            value = node.outputs[output].get_dict().get(key)
            if isinstance(value, dict) and value:
                value = sum(seconds for seconds in value.values() if isinstance(seconds, (int, float)))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    if 'remote_folder' in node.outputs and 'retrieved' in node.outputs:
        return (node.outputs.retrieved.ctime - node.outputs.remote_folder.ctime).total_seconds()
    return None


def code_run(node) -> CodeRun | None:
    """Return the ``CodeRun`` of a calculation job (``None`` while it runs or when its run time is unknown)."""
    if not node.is_terminated:
        return None
    seconds = code_seconds(node)
    if seconds is None:
        return None
    end = node.outputs.retrieved.ctime.timestamp() if 'retrieved' in node.outputs else process_end(node)
    processes = calcjob_processes(node)
    cpu = None
    if node.process_type == PW_PROCESS_TYPE and 'retrieved' in node.outputs and seconds > 0:
        retrieved = node.outputs.retrieved
        name = node.get_option('output_filename') or 'aiida.out'
        if name in retrieved.base.repository.list_object_names():
            rank_seconds = pw_cpu_seconds(retrieved.base.repository.get_object_content(name))
            cpu = None if rank_seconds is None else rank_seconds * processes
    return CodeRun(start=end - seconds, end=end, processes=processes, label=node.process_label, cpu=cpu)


def labelling_saturation(node) -> dict | None:
    """Return how busy a labelling work chain kept its cores with pw.x, or ``None`` without pw.x runs.

    ``cores`` = ``max_concurrent`` x the MPI processes of one place of the window (a run that took
    several places, extra ``window_places`` of its ``PwBaseWorkChain``, has that many times the processes),
    at most the machine's cores (extra :data:`MACHINE_CORES_EXTRA`) when the window is wider than them;
    the batch runs from the work chain's creation to the end of its last pw.x run (``core_saturation``,
    see there). Also returns
    ``pw_cpu_seconds``, ``wall_seconds`` and the number of ``runs`` (every ``PwCalculation``,
    restarts included). A batch still running counts up to its last finished run.
    """
    calculations = [child for child in node.called_descendants if child.process_type == PW_PROCESS_TYPE]
    runs, place_processes = [], []
    for calculation in calculations:
        run = code_run(calculation)
        if run is not None:
            runs.append(run)
            places = calculation.caller.base.extras.get('window_places', 1) if calculation.caller else 1
            place_processes.append(max(1, run.processes // places))
    if not runs:
        return None
    max_concurrent = node.inputs.max_concurrent.value if 'max_concurrent' in node.inputs else 1
    cores = max_concurrent * max(place_processes)
    cores = min(cores, node.base.extras.get(MACHINE_CORES_EXTRA, cores))
    start, end = node.ctime.timestamp(), max(run.end for run in runs)
    saturation = core_saturation(runs, cores, start, end)
    return {
        'core_saturation': None if saturation is None else round(saturation, 4),
        'cores': cores,
        'pw_cpu_seconds': round(sum(run.cpu_seconds for run in runs), 1),
        'wall_seconds': round(end - start, 1),
        'runs': len(runs),
    }
