"""Pure timing helpers: busy time, idle gaps, core saturation and orchestration overhead on made-up schedules."""

from __future__ import annotations

import pytest

from aiida_mlip_autopipe.benchmark.overhead import format_report, summarise
from aiida_mlip_autopipe.common.timing import (
    CodeRun,
    core_saturation,
    idle_gaps,
    orchestration_overhead,
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


def test_overhead_is_wall_over_time_any_code_ran():
    runs = [CodeRun(2, 10), CodeRun(5, 15), CodeRun(20, 25)]  # 18 s with a code running
    assert orchestration_overhead(0, 27, runs) == pytest.approx(27 / 18)
    assert orchestration_overhead(0, 27, []) is None
    report = summarise('Campaign', 0, 27, runs, functions=(CodeRun(16, 19),), top_gaps=2)
    assert report.code_seconds == 18 and report.wall_seconds == 27 and report.runs == 3
    assert report.function_seconds == 3
    assert [(gap['start'], gap['seconds']) for gap in report.gaps] == [(15, 5), (0, 2)]
    assert 'orchestration overhead (wall / code time) 1.500' in format_report(report)
