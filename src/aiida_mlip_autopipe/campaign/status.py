"""Where a campaign stands: the per-iteration table, DFT cost and the learning curve."""

from __future__ import annotations

import math
from pathlib import Path

from aiida import orm

from .stages import labelling_core_saturation, labelling_cpu_seconds

#: (row key, column title, width, number format)
COLUMNS = (
    ('iteration', 'it', 2, 'd'),
    ('labels_added', 'train+', 6, 'd'),
    ('labels_held_out', 'held+', 5, 'd'),
    ('labels_failed', 'failed', 6, 'd'),
    ('training_set_size', 'train', 5, 'd'),
    ('held_out_size', 'held', 4, 'd'),
    ('force_rmse_train', 'F train', 7, '.1f'),
    ('heldout_force_rmse', 'F held', 7, '.1f'),
    ('heldout_force_p95', 'F p95', 6, '.0f'),
    ('heldout_force_max', 'F max', 6, '.0f'),
    ('heldout_energy_rmse', 'E held', 6, '.2f'),
    ('temperature_explored', 'T MD', 6, '.0f'),
    ('runs_halted', 'halted', 6, 'd'),
    ('high_gamma_fraction', 'high-gamma', 10, '.3f'),
    ('max_gamma', 'max gamma', 9, '.2f'),
    ('selected', 'picked', 6, 'd'),
    ('dft_cpu_seconds', 'DFT s', 7, '.0f'),
    ('core_saturation', 'busy', 4, '.2f'),
    ('state', 'state', 9, 's'),
)


def _cell(value, width: int, number_format: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'.rjust(width)
    if isinstance(value, str):
        return value.ljust(width)
    return format(value, number_format).rjust(width)


def format_table(rows: list[dict]) -> str:
    """Return the iteration table as text (force RMSE in meV/A, energy RMSE in meV/atom)."""
    lines = ['  '.join(title.rjust(width) for _, title, width, _ in COLUMNS)]
    for row in rows:
        lines.append('  '.join(_cell(row.get(key), width, fmt) for key, _, width, fmt in COLUMNS))
    return '\n'.join(lines)


def campaign_rows(node: orm.WorkflowNode) -> list[dict]:
    """Return the campaign's iteration rows (from the finished summary or the live extras)."""
    if 'summary' in node.outputs:
        rows = node.outputs.summary['iterations']
    else:
        rows = node.base.extras.get('campaign_iterations', [])
    for row in rows:  # a batch still running has no recorded CPU time yet: sum what has finished
        if row.get('labelling_pk') and row.get('dft_cpu_seconds') is None:
            row['dft_cpu_seconds'] = labelling_cpu_seconds(orm.load_node(row['labelling_pk']))
        if row.get('labelling_pk') and row.get('core_saturation') is None:
            row['core_saturation'] = labelling_core_saturation(orm.load_node(row['labelling_pk']))
    return rows


def labelling_progress(node: orm.WorkflowNode) -> str | None:
    """Return how far a pw.x labelling batch that is still running has got, or None (ended, or no pw.x).

    Counts its structures (the ``structures`` inputs) and the pw.x work chains it has started: ended
    (labelled or failed) and running.
    """
    if node.is_terminated or node.process_label != 'DftLabellingWorkChain':
        return None
    runs = [child for child in node.called if child.process_label == 'PwBaseWorkChain']
    ended = sum(run.is_terminated for run in runs)
    return f'{ended} of {len(node.inputs.structures)} structures done, {len(runs) - ended} running'


def format_criteria(criteria: list[dict]) -> str:
    """Return the stop rule's criteria of one iteration, one per line: met or unmet, value and target."""
    lines = []
    for item in criteria:
        value = item['value']
        shown = '-' if value is None else format(value, '.4g') if isinstance(value, float) else str(value)
        lines.append(
            f'  {"met  " if item["met"] else "UNMET"}  {item["name"]:<20} {shown:>8}  (target {item["target"]:g})'
        )
    return '\n'.join(lines)


def plot_learning_curve(rows: list[dict], path, final_scores: dict | None = None) -> None:
    """Write the held-out force RMSE against the training set size, and the high-gamma fraction, as a PNG.

    With ``final_scores`` (every iteration's potential on the final held-out set) those are drawn
    too: one fixed set, so the points compare.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fitted = [row for row in rows if row.get('heldout_force_rmse') is not None]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    sizes = [r['training_set_size'] for r in fitted]
    left.plot(sizes, [r['heldout_force_rmse'] for r in fitted], 'o-', label='held out (so far)')
    if final_scores:
        pairs = [
            (row['training_set_size'], final_scores[f'iteration_{row["iteration"]:02d}']['force_rmse'])
            for row in fitted
            if f'iteration_{row["iteration"]:02d}' in final_scores
        ]
        left.plot(*zip(*pairs), 'D-', label='held out (final set)')
    left.plot(sizes, [r.get('force_rmse_train') for r in fitted], 's--', label='train')
    left.set_xlabel('labelled structures')
    left.set_ylabel('force RMSE (meV/A)')
    left.legend()
    explored = [row for row in rows if row.get('high_gamma_fraction') is not None]
    right.plot([r['iteration'] for r in explored], [r['high_gamma_fraction'] for r in explored], 'o-')
    right.set_xlabel('iteration')
    right.set_ylabel('fraction of frames above lower gamma')
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_beside(plot_path, what: str) -> Path:
    """Return the path of plot ``what`` beside the learning curve's ``plot_path``: ``learning_curve`` in its
    name replaced by ``what``, or ``_<what>`` added to a name without it."""
    stem = Path(plot_path).stem
    stem = stem.replace('learning_curve', what) if 'learning_curve' in stem else f'{stem}_{what}'
    return Path(plot_path).with_name(f'{stem}.png')


def describe_campaign(node: orm.WorkflowNode, plot_path) -> str:
    """Return the status text of a campaign (state, iteration table, stop reason, validation) and
    write its learning curve to ``plot_path`` when any iteration has been fitted, and the validation's
    EOS and phonon plots beside it (``learning_curve`` in the name replaced by ``eos``, ``phonons``)."""
    state = node.process_state.value if node.process_state else 'unknown'
    exit_status = f' [{node.exit_status}]' if node.exit_status is not None else ''
    lines = [f'{node.process_label}<{node.pk}> `{node.label}`: {state}{exit_status} {node.exit_message or ""}'.rstrip()]
    rows = campaign_rows(node)
    lines.append(format_table(rows))
    labelled = [row for row in rows if row.get('labelling_pk')]
    progress = labelling_progress(orm.load_node(labelled[-1]['labelling_pk'])) if labelled else None
    if progress:
        lines.append(
            f'labelling of iteration {labelled[-1]["iteration"]}, pk {labelled[-1]["labelling_pk"]}: {progress}'
        )
    explored = [row for row in rows if row.get('criteria')]
    if explored:
        lines.append(f'stop rule at iteration {explored[-1]["iteration"]}:')
        lines.append(format_criteria(explored[-1]['criteria']))
    final_scores = None
    if 'summary' in node.outputs:
        summary = node.outputs.summary.get_dict()
        final_scores = summary.get('final_scores')
        shipped = (final_scores or {}).get(summary['shipped'], {})
        lines.append(
            f'stopped: {summary["stop_reason"]}; ships {summary["shipped"]} ({summary["shipped_reason"]}); '
            f'held-out force RMSE {shipped.get("force_rmse", float("nan")):.1f} meV/A, p95 '
            f'{shipped.get("force_p95", float("nan")):.0f}, max {shipped.get("force_max", float("nan")):.0f} meV/A, '
            f'energy RMSE {shipped.get("energy_rmse", float("nan")):.2f} meV/atom; '
            f'{summary["dft_calculations"]} labelling calculations'
        )
    if 'validation' in node.outputs:
        from ..validation.plot import plot_eos_comparison, plot_phonon_comparison
        from ..validation.report import format_validation_table

        report = node.outputs.validation.get_dict()
        lines.append('validation (potential vs labeller):')
        lines.append(format_validation_table(report))
        eos_path = plot_beside(plot_path, 'eos')
        lines.append(f'equation-of-state plot: {plot_eos_comparison(report, eos_path).resolve()}')
        if report.get('phonon_bands'):
            phonon_path = plot_phonon_comparison(report, plot_beside(plot_path, 'phonons'))
            lines.append(f'phonon plot: {phonon_path.resolve()}')
    if any(row.get('heldout_force_rmse') is not None for row in rows):
        plot_learning_curve(rows, plot_path, final_scores)
        lines.append(f'learning curve: {Path(plot_path).resolve()}')
    return '\n'.join(lines)
