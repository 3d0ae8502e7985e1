"""Calcfunctions of the exploration stage: the MD files, the parsed runs and the report.

The selection of the frames to label runs as a ``PythonTaskCalculation`` job (the
``select_structures`` task of :mod:`.tasks`), not here: its B-projections and MaxVol take up to a
minute, which a calcfunction would spend inside the daemon worker. Its report says which frames
were selected and why.
"""

from __future__ import annotations

import io

from aiida import orm
from aiida.engine import ExitCode, calcfunction
from ase import Atoms

from ..common.python_task import trajectory_arrays
from ..data import AcePotential
from ..data.ace_potential import FILENAMES
from .inputs import DATA_NAME, INPUT_NAME, MdParameters, pair_species, write_data_file, write_md_input
from .parsers import MD_EXIT_CODES, MD_FILES, STDOUT_NAME, frames_to_trajectory, read_md_run
from .selection import frames_from_arrays


def trajectory_frames(trajectory: orm.TrajectoryData) -> list[Atoms]:
    """Return the frames of a candidates ``TrajectoryData`` with ``arrays['gamma']`` and ``info['step']``
    (:func:`~.selection.frames_from_arrays`)."""
    return frames_from_arrays(trajectory_arrays(trajectory))


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
    trajectory = frames_to_trajectory(run.frames, structure.get_ase())
    if trajectory is not None:
        outputs['candidates'] = trajectory
    if run.final is not None:
        outputs['final_structure'] = orm.StructureData(ase=run.final)
    return outputs
