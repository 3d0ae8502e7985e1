"""Pure timing helpers: busy time, idle gaps, core saturation and orchestration overhead on made-up schedules."""

from __future__ import annotations

import pytest

from aiida_mlip_autopipe.benchmark.overhead import format_report, summarise
from aiida_mlip_autopipe.common.timing import (
    CodeRun,
    core_saturation,
    duration_seconds,
    idle_gaps,
    orchestration_overhead,
    pw_cpu_seconds,
    union_seconds,
)


def test_union_and_gaps_of_overlapping_runs():
    intervals = [(5, 15), (0, 10), (20, 25), (21, 22), (30, 30)]
    assert union_seconds(intervals) == 20
    assert union_seconds([]) == 0
    assert idle_gaps(intervals, -2, 40) == [(-2, 0), (15, 20), (25, 40)]
    assert idle_gaps(intervals, 0, 12) == []


def test_rolling_window_keeps_two_cores_busier_than_batches():
    """A 10 s run and three 2 s runs on two one-core slots."""
    # batches: wait for the slow run before the next two start
    batches = [CodeRun(0, 10), CodeRun(0, 2), CodeRun(10, 12), CodeRun(10, 12)]
    assert core_saturation(batches, cores=2, start=0, end=12) == pytest.approx(16 / 24)
    # rolling window: the short runs follow each other beside the long one
    rolling = [CodeRun(0, 10), CodeRun(0, 2), CodeRun(2, 4), CodeRun(4, 6)]
    assert core_saturation(rolling, cores=2, start=0, end=10) == pytest.approx(16 / 20)
    # two runs of two MPI processes each on four cores, back to back: saturated
    assert core_saturation([CodeRun(0, 5, 2), CodeRun(0, 5, 2)], cores=4, start=0, end=5) == 1.0
    assert core_saturation(rolling, cores=2, start=3, end=3) is None


def test_cpu_time_counts_what_a_run_used_not_the_cores_it_held():
    """Two one-process runs side by side on one core: 10 s of wall each, 5 s of CPU each."""
    shared = [CodeRun(0, 10, cpu=5.0), CodeRun(0, 10, cpu=5.0)]
    assert core_saturation(shared, cores=2, start=0, end=10) == pytest.approx(0.5)
    assert CodeRun(0, 10, processes=2).cpu_seconds == 20  # no count from the code: wall x processes
    output = '     PWSCF        :      1.45s CPU      2.97s WALL\n\n   This run was terminated on: ...\n'
    assert pw_cpu_seconds(output) == 1.45
    assert pw_cpu_seconds('     PWSCF        :   1m23.45s CPU   1m25.00s WALL\n') == pytest.approx(83.45)
    assert pw_cpu_seconds('JOB DONE.') is None
    assert [duration_seconds(text) for text in ('1h 5m', '12.5s', '3m', 'soon')] == [3900, 12.5, 180, None]


def test_overhead_is_wall_over_time_any_code_ran():
    runs = [CodeRun(2, 10), CodeRun(5, 15), CodeRun(20, 25)]  # 18 s with a code running
    assert orchestration_overhead(0, 27, runs) == pytest.approx(27 / 18)
    assert orchestration_overhead(0, 27, []) is None
    report = summarise('Campaign', 0, 27, runs, functions=(CodeRun(16, 19),), top_gaps=2)
    assert report.code_seconds == 18 and report.wall_seconds == 27 and report.runs == 3
    assert report.function_seconds == 3
    assert [(gap['start'], gap['seconds']) for gap in report.gaps] == [(15, 5), (0, 2)]
    assert 'orchestration overhead (wall / code time) 1.500' in format_report(report)


def test_a_workflow_without_outputs_ends_with_the_last_process_it_called(aiida_profile):
    """A campaign that failed before any output (e.g. its first fit refused) had wall 0 in the overhead report."""
    from aiida import orm
    from aiida.engine import ExitCode, calcfunction, workfunction

    from aiida_mlip_autopipe.common.timing import process_end

    @calcfunction
    def increment(value):
        return orm.Int(value.value + 1)

    @workfunction
    def fail_after_a_step(value):
        increment(value)
        return ExitCode(300, 'stopped without outputs')

    _, node = fail_after_a_step.run_get_node(orm.Int(1))
    assert node.exit_status == 300 and not list(node.outputs)
    (called,) = node.called
    assert process_end(node) == called.outputs.result.ctime.timestamp() > node.ctime.timestamp()
