"""Calcfunctions of the exploration stage: the graph records which frames were selected and why."""

from __future__ import annotations

import io
import tempfile

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, calcfunction
from ase import Atoms

from ..common.geometry import min_interatomic_distance
from ..data import AcePotential
from ..data.ace_potential import FILENAMES
from .inputs import DATA_NAME, INPUT_NAME, MdParameters, pair_species, write_data_file, write_md_input
from .parsers import MD_EXIT_CODES, MD_FILES, STDOUT_NAME, frames_to_trajectory, read_md_run
from .selection import frame_descriptors, frame_projections, load_active_set, select_frames, select_frames_maxvol

#: Defaults of the ``parameters`` of :func:`select_structures`.
SELECTION_DEFAULTS = {
    'method': 'maxvol',
    'max_selected': 8,
    'gamma_lower': 1.5,
    'gamma_upper': 10.0,
    'label_above_upper': False,
    'duplicate_tolerance': 0.02,
    'min_distance': 1.5,
    'seed': 0,
    'max_candidates': 5000,
}
SELECTION_METHODS = ('maxvol', 'farthest_point')


def trajectory_frames(trajectory: orm.TrajectoryData) -> list[Atoms]:
    """Return the frames of a candidates ``TrajectoryData`` with ``arrays['gamma']`` and ``info['step']``.

    The elements of each frame come from the array ``numbers`` (atom swaps change them) when present.
    """
    positions = trajectory.get_positions()
    cells = trajectory.get_cells()
    steps = trajectory.get_stepids()
    gamma = trajectory.get_array('gamma')
    names = trajectory.get_arraynames()
    numbers = trajectory.get_array('numbers') if 'numbers' in names else [trajectory.symbols] * len(positions)
    frames = []
    for i in range(len(positions)):
        atoms = Atoms(numbers[i], positions=positions[i], cell=cells[i], pbc=True)
        atoms.arrays['gamma'] = np.asarray(gamma[i], dtype=float)
        atoms.info['step'] = int(steps[i])
        atoms.info['max_gamma'] = float(np.max(gamma[i]))
        frames.append(atoms)
    return frames


def screen_frames(frames: list[Atoms], settings: dict) -> tuple[list[int], dict[int, tuple[str, str]]]:
    """Return the candidate frames (trust window, no atoms too close) and ``(reason, detail)`` of each other."""
    lower, upper = settings['gamma_lower'], settings['gamma_upper']
    candidates, reasons = [], {}
    for index, atoms in enumerate(frames):
        gamma = atoms.info['max_gamma']
        distance = min_interatomic_distance(atoms)
        if not np.isfinite(gamma) or gamma < lower:
            reasons[index] = ('below_lower', f'gamma {gamma:.2f} < gamma_lower {lower:g}: known ground')
        elif gamma >= upper and not settings['label_above_upper']:
            reasons[index] = ('above_upper', f'gamma {gamma:.2f} >= gamma_upper {upper:g}: outside the trust window')
        elif distance < settings['min_distance']:
            reasons[index] = ('too_close', f'atoms {distance:.2f} A apart < {settings["min_distance"]:g} A')
        else:
            candidates.append(index)
    if len(candidates) > settings['max_candidates']:
        rng = np.random.default_rng(settings['seed'])
        kept = set(rng.choice(candidates, size=settings['max_candidates'], replace=False).tolist())
        for index in candidates:
            if index not in kept:
                reasons[index] = ('subsampled', f'left out of a random subset of {settings["max_candidates"]}')
        candidates = sorted(kept)
    return candidates, reasons


def _select(frames, candidates, settings, files) -> tuple[list[int], dict[int, tuple[str, str]]]:
    """Run the selection ``settings['method']`` over ``candidates``; return (selected, reasons)."""
    max_gamma = np.array([atoms.info['max_gamma'] for atoms in frames])
    if settings['method'] == 'maxvol':
        projections, owners = frame_projections([frames[i] for i in candidates], str(files['yaml']))
        owners = {species: np.asarray(candidates)[rows] for species, rows in owners.items()}
        return select_frames_maxvol(
            projections,
            owners,
            load_active_set(str(files['asi'])),
            candidates,
            max_selected=int(settings['max_selected']),
            gamma_lower=float(settings['gamma_lower']),
            max_gamma=max_gamma,
        )
    descriptors = np.zeros((len(frames), 0))
    if candidates:
        block = frame_descriptors([frames[i] for i in candidates], str(files['yaml']))
        descriptors = np.zeros((len(frames), block.shape[1]))
        descriptors[candidates] = block
    eligible = np.zeros(len(frames), dtype=bool)
    eligible[candidates] = True
    selected, _ = select_frames(
        descriptors,
        max_gamma,
        max_selected=int(settings['max_selected']),
        gamma_lower=float(settings['gamma_lower']),
        duplicate_tolerance=float(settings['duplicate_tolerance']),
        eligible=eligible,
        max_candidates=len(frames) + 1,
    )
    return selected, {index: ('not_picked', 'not a farthest point') for index in candidates if index not in selected}


@calcfunction
def select_structures(potential: AcePotential, parameters: orm.Dict, **candidates: orm.TrajectoryData) -> dict:
    """Select at most ``max_selected`` explored frames to label next (see :mod:`.selection`).

    ``candidates`` are the runs' candidate trajectories keyed by run label. Frames outside the
    trust window ``gamma_lower <= gamma < gamma_upper`` (frames at or above ``gamma_upper`` only when
    ``label_above_upper``) or with atoms closer than ``min_distance`` are not candidates; the
    ``method`` (``maxvol`` or ``farthest_point``) picks among the rest. Returns the selected frames
    as ``StructureData`` keyed ``<run>_step<step>`` (link-label safe) and ``selection_report``: the
    selected frames with their gamma, every other frame with the reason it was not taken, and counts.
    """
    settings = {**SELECTION_DEFAULTS, **parameters.get_dict()}
    unknown = sorted(set(settings) - set(SELECTION_DEFAULTS))
    if unknown:
        raise ValueError(f'`parameters`: unknown keys {unknown}; allowed: {sorted(SELECTION_DEFAULTS)}')
    if settings['method'] not in SELECTION_METHODS:
        raise ValueError(f'`parameters.method`: `{settings["method"]}`; allowed: {", ".join(SELECTION_METHODS)}')
    frames, keys = [], []
    for run in sorted(candidates):
        for atoms in trajectory_frames(candidates[run]):
            frames.append(atoms)
            keys.append(f'{run}_step{atoms.info["step"]:08d}')
    candidate_indices, reasons = screen_frames(frames, settings)
    selected = []
    if candidate_indices:
        with tempfile.TemporaryDirectory() as folder:
            selected, picked_reasons = _select(frames, candidate_indices, settings, potential.write_files(folder))
        reasons.update(picked_reasons)
    outputs, report = {}, {}
    for rank, index in enumerate(selected):
        atoms = Atoms(frames[index].get_chemical_symbols(), frames[index].positions, cell=frames[index].cell, pbc=True)
        outputs[keys[index]] = orm.StructureData(ase=atoms)
        report[keys[index]] = {'rank': rank, 'max_gamma': frames[index].info['max_gamma'], 'atoms': len(atoms)}
    dropped = {keys[index]: {'reason': reason, 'detail': detail} for index, (reason, detail) in sorted(reasons.items())}
    counts = {'frames': len(frames), 'candidates': len(candidate_indices), 'selected': len(selected)}
    for entry in dropped.values():
        counts[entry['reason']] = counts.get(entry['reason'], 0) + 1
    outputs['selection_report'] = orm.Dict(
        {'selected': report, 'not_selected': dropped, 'counts': counts, 'parameters': settings}
    )
    return outputs


@calcfunction
def generate_exploration_report(
    selection_report: orm.Dict, runs: orm.Dict, failures: orm.Dict, **run_reports: orm.Dict
) -> orm.Dict:
    """Return the exploration report: per run and overall gamma statistics, halts, what was explored, selection.

    ``runs`` maps run label -> its settings (structure, composition, temperature, pressure);
    ``failures`` maps run label -> why it failed; ``run_reports`` are the calculations' ``report``
    outputs by label. Each run keeps its own high-gamma fraction (of its gamma samples, each the
    largest gamma of the cell at a gamma step, up to a halt); the overall ``high_gamma_fraction`` is
    the largest of them, so one run that went astray is not averaged away by clean ones.
    ``frames_above_upper`` counts frames at or above ``gamma_upper``: failures of the potential,
    not labelled unless the selection was asked to. ``temperature_max`` and ``compositions`` are
    those of the runs that ran to their end without a halt.
    """
    per_run = {}
    samples = 0
    max_gamma = None
    for label in sorted(runs.get_dict()):
        entry = dict(runs[label])
        if label in run_reports:
            report = run_reports[label].get_dict()
            entry.update(report)
            samples += report['samples']
            if report['max_gamma'] is not None:
                max_gamma = report['max_gamma'] if max_gamma is None else max(max_gamma, report['max_gamma'])
        if label in failures.get_dict():
            entry['failure'] = failures[label]
        per_run[label] = entry
    selection = selection_report.get_dict()
    explored = [entry for entry in per_run.values() if entry.get('completed') and not entry.get('halted')]
    compositions = sorted(
        {tuple(sorted(entry['composition'].items())) for entry in explored if entry.get('composition')}
    )
    return orm.Dict(
        {
            'max_gamma': max_gamma,
            'high_gamma_fraction': max(
                (entry.get('fraction_above_lower', 0.0) for entry in per_run.values()), default=0.0
            ),
            'upper_gamma_fraction': max(
                (entry.get('fraction_above_upper', 0.0) for entry in per_run.values()), default=0.0
            ),
            'samples': samples,
            'runs_total': len(per_run),
            'runs_failed': len(failures.get_dict()),
            'runs_halted': sum(1 for entry in per_run.values() if entry.get('halted')),
            'frames_above_upper': selection.get('counts', {}).get('above_upper', 0),
            'temperature_max': max((entry['temperature'] for entry in explored), default=None),
            'compositions': [dict(composition) for composition in compositions],
            'selected': len(selection.get('selected', {})),
            'selection': selection,
            'runs': per_run,
        }
    )


@calcfunction
def generate_lammps_md_files(potential: AcePotential, structure: orm.StructureData, parameters: orm.Dict) -> dict:
    """Return the files of one extrapolation-grade MD run, for aiida-lammps' ``lammps.raw``.

    ``script``: the input script (:func:`~.inputs.write_md_input`); ``data``: the structure as a
    LAMMPS data file; ``potential_yaml`` and ``potential_asi``: the potential's B-basis and active
    set, which ``pair_style pace/extrapolation`` reads. Each file carries the name the script uses.
    """
    md = MdParameters(**parameters.get_dict())
    pair_lines = potential.lammps_pair_lines(extrapolation=True)
    species = pair_species(pair_lines)
    atoms = structure.get_ase()
    types = sorted({species.index(symbol) + 1 for symbol in atoms.get_chemical_symbols()})

    def single_file(content: bytes, filename: str) -> orm.SinglefileData:
        return orm.SinglefileData(io.BytesIO(content), filename=filename)

    return {
        'script': single_file(write_md_input(md, pair_lines, len(atoms), types).encode(), INPUT_NAME),
        'data': single_file(write_data_file(atoms, species).encode(), DATA_NAME),
        'potential_yaml': single_file(potential.get_content('yaml'), FILENAMES['yaml']),
        'potential_asi': single_file(potential.get_content('asi'), FILENAMES['asi']),
    }


#: The scheduler's stderr file of a job (AiiDA's default ``scheduler_stderr``), retrieved with it.
SCHEDULER_STDERR = '_scheduler-stderr.txt'


def retrieved_texts(retrieved: orm.FolderData, names) -> dict[str, str]:
    """Return ``{name: text}`` of the files ``names`` present in ``retrieved`` (unreadable ones left out)."""
    present = set(retrieved.base.repository.list_object_names())
    texts = {}
    for name in names:
        if name in present:
            try:
                texts[name] = retrieved.base.repository.get_object_content(name, mode='r')
            except (OSError, UnicodeDecodeError):
                continue
    return texts


@calcfunction
def parse_lammps_md(
    retrieved: orm.FolderData, potential: AcePotential, structure: orm.StructureData, parameters: orm.Dict
):
    """Return ``report``, ``series``, ``candidates`` and ``final_structure`` of an MD run's retrieved files.

    The gamma series, the candidate dump and the halts are this plugin's (:func:`~.parsers.read_md_run`);
    a failed run returns its exit code (:data:`~.parsers.MD_EXIT_CODES`) instead.
    """
    md = MdParameters(**parameters.get_dict())
    species = pair_species(potential.lammps_pair_lines(extrapolation=True))
    files = retrieved_texts(retrieved, (*MD_FILES, STDOUT_NAME))
    stderr = retrieved_texts(retrieved, (SCHEDULER_STDERR,)).get(SCHEDULER_STDERR, '')
    run = read_md_run(files, md, species, len(structure.sites), stderr)
    if run.failure is not None:
        return ExitCode(MD_EXIT_CODES[run.failure[0]][0], run.failure_message)
    outputs = {'report': orm.Dict(run.report)}
    series = orm.ArrayData()
    for name, values in run.series.items():
        series.set_array(name, values)
    outputs['series'] = series
    trajectory = frames_to_trajectory(run.frames)
    if trajectory is not None:
        outputs['candidates'] = trajectory
    if run.final is not None:
        outputs['final_structure'] = orm.StructureData(ase=run.final)
    return outputs
