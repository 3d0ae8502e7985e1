"""Orchestration overhead of a finished workflow (``benchmarks/campaign_overhead.py``).

The workflow's wall time (its creation to its last output) against the time in which any code ran
(:func:`~aiida_mlip_autopipe.common.timing.union_seconds` of its calculation jobs' runs), the
longest stretches in which no code ran and what was going on then, the in-daemon calculation
functions, and the core saturation of each pw.x labelling batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.timing import (
    CodeRun,
    code_run,
    idle_gaps,
    labelling_saturation,
    orchestration_overhead,
    process_end,
    union_seconds,
)

LABELLING_PROCESS_TYPE = 'aiida.workflows:mlip_autopipe.labelling.dft'


@dataclass
class OverheadReport:
    """What :func:`overhead_report` measured (seconds)."""

    label: str
    wall_seconds: float
    code_seconds: float
    overhead: float | None
    runs: int
    unknown_runs: list[str] = field(default_factory=list)
    function_seconds: float = 0.0
    gaps: list[dict] = field(default_factory=list)
    batches: list[dict] = field(default_factory=list)


def summarise(
    label: str,
    start: float,
    end: float,
    runs: list[CodeRun],
    functions: tuple[CodeRun, ...] = (),
    top_gaps: int = 5,
) -> OverheadReport:
    """Return the overhead of a workflow from ``start`` to ``end`` with code ``runs`` (pure).

    ``functions`` are in-daemon calculation functions: their time is reported, not counted as code
    time. ``gaps`` are the ``top_gaps`` longest stretches with no code running, longest first, with
    their start relative to ``start``.
    """
    intervals = [(max(run.start, start), min(run.end, end)) for run in runs]
    gaps = sorted(idle_gaps(intervals, start, end), key=lambda gap: gap[1] - gap[0], reverse=True)[:top_gaps]
    return OverheadReport(
        label=label,
        wall_seconds=end - start,
        code_seconds=union_seconds(intervals),
        overhead=orchestration_overhead(start, end, runs),
        runs=len(runs),
        function_seconds=union_seconds((run.start, run.end) for run in functions),
        gaps=[{'start': first - start, 'seconds': last - first, 'during': ''} for first, last in gaps],
    )


def _during(leaves: list[tuple], moment: float, default: str) -> str:
    """Return the processes of ``leaves`` (``(node, start, end)`` of the innermost processes of a workflow) alive at
    ``moment``, or ``default`` when none was."""
    alive = {node.process_label for node, first, last in leaves if first <= moment < last}
    return ', '.join(sorted(alive)) or default


def overhead_report(workflow, top_gaps: int = 5) -> OverheadReport:
    """Return the :class:`OverheadReport` of a terminated workflow node (a campaign, or any work chain)."""
    from aiida import orm
    from aiida.common.links import LinkType

    start, end = workflow.ctime.timestamp(), process_end(workflow)
    descendants = workflow.called_descendants
    calculations = [node for node in descendants if isinstance(node, orm.CalcJobNode)]
    runs, unknown = [], []
    for node in calculations:
        run = code_run(node)
        if run is None:
            unknown.append(f'{node.process_label}<{node.pk}>')
        else:
            runs.append(run)
    functions = [
        CodeRun(start=node.ctime.timestamp(), end=process_end(node), label=node.process_label)
        for node in descendants
        if isinstance(node, orm.CalcFunctionNode)
    ]
    report = summarise(workflow.process_label, start, end, runs, functions, top_gaps=top_gaps)
    report.unknown_runs = unknown
    leaves = [(node, node.ctime.timestamp(), process_end(node)) for node in descendants if not node.called]
    for gap in report.gaps:
        gap['during'] = _during(leaves, start + gap['start'] + gap['seconds'] / 2, workflow.process_label)
    labelling = [workflow] if workflow.process_type == LABELLING_PROCESS_TYPE else []
    labelling += [node for node in descendants if node.process_type == LABELLING_PROCESS_TYPE]
    for node in sorted(labelling, key=lambda node: node.ctime):
        timing = labelling_saturation(node)
        if timing is not None:
            link = node.base.links.get_incoming(link_type=LinkType.CALL_WORK).all()
            name = link[0].link_label if link else node.process_label
            report.batches.append({'pk': node.pk, 'name': name, 'structures': len(node.inputs.structures), **timing})
    return report


def format_report(report: OverheadReport) -> str:
    """Return the report as text."""
    ratio = '-' if report.overhead is None else f'{report.overhead:.3f}'
    lines = [
        f'{report.label}: wall {report.wall_seconds:.1f} s, any code running {report.code_seconds:.1f} s '
        f'({report.runs} code runs), orchestration overhead (wall / code time) {ratio}',
        f'in-daemon calculation functions: {report.function_seconds:.1f} s (counted as overhead)',
    ]
    if report.unknown_runs:
        lines.append(f'runs without a known run time (not counted): {", ".join(report.unknown_runs)}')
    if report.gaps:
        lines.append('longest stretches with no code running:')
        lines.extend(f'  at {gap["start"]:8.1f} s  {gap["seconds"]:7.1f} s  {gap["during"]}' for gap in report.gaps)
    if report.batches:
        lines.append('labelling batches (core saturation = pw.x CPU s / (cores x batch wall s)):')
        header = ('batch', 'pk', 'structs', 'runs', 'cores', 'CPU s', 'wall s', 'saturation')
        lines.append('  {:<14} {:>6} {:>7} {:>5} {:>5} {:>8} {:>8} {:>10}'.format(*header))
        for batch in report.batches:
            saturation = '-' if batch['core_saturation'] is None else f'{batch["core_saturation"]:.3f}'
            lines.append(
                f'  {batch["name"]:<14} {batch["pk"]:>6} {batch["structures"]:>7} {batch["runs"]:>5} '
                f'{batch["cores"]:>5} {batch["pw_cpu_seconds"]:>8.1f} {batch["wall_seconds"]:>8.1f} {saturation:>10}'
            )
    return '\n'.join(lines)
