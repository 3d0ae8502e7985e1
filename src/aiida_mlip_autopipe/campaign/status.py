"""Where a campaign stands: the per-iteration table, DFT cost and the learning curve."""

from __future__ import annotations

import math
from pathlib import Path

from aiida import orm

from .stages import labelling_cpu_seconds

#: (row key, column title, width, number format)
COLUMNS = (
    ('iteration', 'it', 2, 'd'),
    ('labels_added', 'labels', 6, 'd'),
    ('labels_failed', 'failed', 6, 'd'),
    ('training_set_size', 'train set', 9, 'd'),
    ('force_rmse_train', 'F train', 8, '.1f'),
    ('force_rmse_test', 'F test', 7, '.1f'),
    ('energy_rmse_test', 'E test', 7, '.2f'),
    ('high_gamma_fraction', 'high-gamma', 10, '.3f'),
    ('max_gamma', 'max gamma', 9, '.2f'),
    ('dft_cpu_seconds', 'DFT s', 7, '.0f'),
    ('state', 'state', 10, 's'),
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
    return rows


def plot_learning_curve(rows: list[dict], path) -> None:
    """Write the test force RMSE against the training set size, and the high-gamma fraction, as a PNG."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fitted = [row for row in rows if row.get('force_rmse_test') is not None]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot([r['training_set_size'] for r in fitted], [r['force_rmse_test'] for r in fitted], 'o-', label='test')
    left.plot(
        [r['training_set_size'] for r in fitted], [r.get('force_rmse_train') for r in fitted], 's--', label='train'
    )
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


def describe_campaign(node: orm.WorkflowNode, plot_path) -> str:
    """Return the status text of a campaign (state, iteration table, stop reason, validation) and
    write its learning curve to ``plot_path`` when any iteration has been fitted."""
    state = node.process_state.value if node.process_state else 'unknown'
    exit_status = f' [{node.exit_status}]' if node.exit_status is not None else ''
    lines = [f'{node.process_label}<{node.pk}> `{node.label}`: {state}{exit_status} {node.exit_message or ""}'.rstrip()]
    rows = campaign_rows(node)
    lines.append(format_table(rows))
    if 'summary' in node.outputs:
        summary = node.outputs.summary.get_dict()
        best = summary['iterations'][summary['best_iteration']]
        lines.append(
            f'stopped: {summary["stop_reason"]}; best iteration {summary["best_iteration"]} '
            f'(test force RMSE {best.get("force_rmse_test")} meV/A, energy RMSE {best.get("energy_rmse_test")} '
            f'meV/atom); {summary["dft_calculations"]} labelling calculations'
        )
    if 'validation' in node.outputs:
        from ..validation.plot import plot_eos_comparison
        from ..validation.report import format_validation_table

        report = node.outputs.validation.get_dict()
        lines.append('validation (potential vs labeller):')
        lines.append(format_validation_table(report))
        eos_path = Path(plot_path).with_name(Path(plot_path).stem.replace('learning_curve', 'eos') + '.png')
        lines.append(f'equation-of-state plot: {plot_eos_comparison(report, eos_path).resolve()}')
    if any(row.get('force_rmse_test') is not None for row in rows):
        plot_learning_curve(rows, plot_path)
        lines.append(f'learning curve: {Path(plot_path).resolve()}')
    return '\n'.join(lines)
