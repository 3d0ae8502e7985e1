"""Calcfunctions of the exploration stage: the graph records which frames were selected and why."""

from __future__ import annotations

import tempfile

import numpy as np
from aiida import orm
from aiida.engine import calcfunction
from ase import Atoms

from ..data import AcePotential
from ..labelling.geometry import min_interatomic_distance
from .selection import frame_descriptors, select_frames

#: Defaults of the ``parameters`` of :func:`select_structures`.
SELECTION_DEFAULTS = {
    'max_selected': 8,
    'gamma_lower': 1.5,
    'duplicate_tolerance': 0.02,
    'min_distance': 1.5,
    'seed': 0,
    'max_candidates': 5000,
}


def trajectory_frames(trajectory: orm.TrajectoryData) -> list[Atoms]:
    """Return the frames of a candidates ``TrajectoryData`` with ``arrays['gamma']`` and ``info['step']``."""
    symbols = trajectory.symbols
    positions = trajectory.get_positions()
    cells = trajectory.get_cells()
    steps = trajectory.get_stepids()
    gamma = trajectory.get_array('gamma')
    frames = []
    for i in range(len(positions)):
        atoms = Atoms(symbols=symbols, positions=positions[i], cell=cells[i], pbc=True)
        atoms.arrays['gamma'] = np.asarray(gamma[i], dtype=float)
        atoms.info['step'] = int(steps[i])
        atoms.info['max_gamma'] = float(np.max(gamma[i]))
        frames.append(atoms)
    return frames


@calcfunction
def select_structures(potential: AcePotential, parameters: orm.Dict, **candidates: orm.TrajectoryData) -> dict:
    """Select at most ``max_selected`` explored frames to label next, by gamma and diversity.

    ``candidates`` are the runs' candidate trajectories keyed by run label. See
    :mod:`aiida_mlip_autopipe.exploration.selection` for the method. Returns the selected frames
    as ``StructureData`` keyed ``<run>_step<step>`` (link-label safe) and ``selection_report``
    (what was selected with its gamma, and how many frames were dropped as duplicates, below the
    lower threshold or with atoms too close).
    """
    settings = {**SELECTION_DEFAULTS, **parameters.get_dict()}
    unknown = sorted(set(settings) - set(SELECTION_DEFAULTS))
    if unknown:
        raise ValueError(f'`parameters`: unknown keys {unknown}; allowed: {sorted(SELECTION_DEFAULTS)}')
    frames, labels = [], []
    for run in sorted(candidates):
        for atoms in trajectory_frames(candidates[run]):
            frames.append(atoms)
            labels.append((run, atoms.info['step']))
    max_gamma = np.array([atoms.info['max_gamma'] for atoms in frames])
    eligible = np.array([min_interatomic_distance(atoms) >= settings['min_distance'] for atoms in frames], dtype=bool)
    with tempfile.TemporaryDirectory() as folder:
        yaml_path = potential.write_files(folder)['yaml']
        usable = np.flatnonzero(eligible & np.isfinite(max_gamma) & (max_gamma >= settings['gamma_lower']))
        descriptors = np.zeros((len(frames), 0))
        if len(usable):
            block = frame_descriptors([frames[i] for i in usable], str(yaml_path))
            descriptors = np.zeros((len(frames), block.shape[1]))
            descriptors[usable] = block
    indices, info = select_frames(
        descriptors,
        max_gamma,
        max_selected=int(settings['max_selected']),
        gamma_lower=float(settings['gamma_lower']),
        duplicate_tolerance=float(settings['duplicate_tolerance']),
        seed=int(settings['seed']),
        max_candidates=int(settings['max_candidates']),
        eligible=eligible,
    )
    outputs = {}
    selected = {}
    for index in indices:
        run, step = labels[index]
        key = f'{run}_step{step:08d}'
        atoms = frames[index].copy()
        atoms.info = {}
        for name in list(atoms.arrays):
            if name not in ('numbers', 'positions'):
                del atoms.arrays[name]
        outputs[key] = orm.StructureData(ase=atoms)
        selected[key] = {'run': run, 'step': int(step), 'max_gamma': float(max_gamma[index]), 'atoms': len(atoms)}
    outputs['selection_report'] = orm.Dict({'selected': selected, 'counts': info, 'parameters': settings})
    return outputs


@calcfunction
def generate_exploration_report(
    selection_report: orm.Dict, runs: orm.Dict, failures: orm.Dict, **run_reports: orm.Dict
) -> orm.Dict:
    """Return the exploration report: per run and overall max gamma, high-gamma fraction, halts, selection.

    ``runs`` maps run label -> its settings (structure, temperature, pressure); ``failures`` maps
    run label -> why it failed; ``run_reports`` are the calculations' ``report`` outputs by label.
    ``high_gamma_fraction`` is over all gamma samples of the successful runs (each sample is the
    largest gamma of the cell at a gamma step), counting a halted run's samples up to its halt.
    """
    per_run = {}
    samples = above_lower = above_upper = 0
    max_gamma = None
    for label in sorted(runs.get_dict()):
        entry = dict(runs[label])
        if label in run_reports:
            report = run_reports[label].get_dict()
            entry.update(report)
            n = report['samples']
            samples += n
            above_lower += round(report['fraction_above_lower'] * n)
            above_upper += round(report['fraction_above_upper'] * n)
            if report['max_gamma'] is not None:
                max_gamma = report['max_gamma'] if max_gamma is None else max(max_gamma, report['max_gamma'])
        if label in failures.get_dict():
            entry['failure'] = failures[label]
        per_run[label] = entry
    selection = selection_report.get_dict()
    return orm.Dict(
        {
            'max_gamma': max_gamma,
            'high_gamma_fraction': above_lower / samples if samples else 0.0,
            'upper_gamma_fraction': above_upper / samples if samples else 0.0,
            'samples': samples,
            'runs_total': len(per_run),
            'runs_failed': len(failures.get_dict()),
            'runs_halted': sum(1 for entry in per_run.values() if entry.get('halted')),
            'selected': len(selection.get('selected', {})),
            'selection': selection,
            'runs': per_run,
        }
    )
