"""What an extrapolation-grade MD run produced, read from the files LAMMPS wrote.

:func:`read_md_run` is pure: given the files of a finished run (log, gamma series, candidate dump,
last frame) it returns the report, the series, the candidate frames, the last frame and, when the
run failed, which exit code and why. :func:`frames_to_trajectory` turns frames into the
``candidates`` node. :class:`LammpsRawMdParser` is aiida-lammps' ``lammps.raw`` parser, kept from
raising on output it cannot read (see its docstring).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from aiida import orm
from aiida_lammps.parsers.raw import LammpsRawParser
from ase import Atoms

from .fragments import lattice_repeats
from .inputs import DUMP_NAME, FINAL_DUMP_NAME, LOG_NAME, SERIES_NAME, MdParameters
from .outputs import parse_dump, parse_log, parse_series, summarise_run

#: The stdout of aiida-lammps' ``lammps.raw`` job (``LammpsRawCalculation.FILENAME_OUTPUT``): the
#: same text as the log; read when the log file is absent.
STDOUT_NAME = 'lammps.out'
#: Files an MD run leaves for :func:`read_md_run` (besides the stdout).
MD_FILES = (LOG_NAME, SERIES_NAME, DUMP_NAME, FINAL_DUMP_NAME)
#: How an MD run can fail: exit code label -> (status, message with ``{detail}``).
MD_EXIT_CODES = {
    'ERROR_NO_LOG': (300, f'LAMMPS wrote no `{LOG_NAME}`: {{detail}}'),
    'ERROR_NO_SERIES': (301, f'LAMMPS wrote no gamma series `{SERIES_NAME}`: {{detail}}'),
    'ERROR_LAMMPS': (310, 'LAMMPS stopped with an error: {detail}'),
    'ERROR_NON_FINITE': (320, 'the run produced non-finite or exploded values: {detail}'),
    'ERROR_INCOMPLETE': (321, 'the run ended before its last step without a halt: {detail}'),
}


@dataclasses.dataclass
class MdRun:
    """A parsed MD run: ``failure`` is ``(exit code label, detail)`` or ``None`` for a completed or halted run."""

    report: dict | None = None
    series: dict[str, np.ndarray] | None = None
    frames: list[Atoms] = dataclasses.field(default_factory=list)
    final: Atoms | None = None
    failure: tuple[str, str] | None = None

    @property
    def failure_message(self) -> str | None:
        """The exit message of the failure, or ``None``."""
        if self.failure is None:
            return None
        label, detail = self.failure
        return MD_EXIT_CODES[label][1].format(detail=detail)


def read_md_run(
    files: dict[str, str], parameters: MdParameters, species: list[str], n_atoms: int, stderr: str = ''
) -> MdRun:
    """Return what the run whose files are ``files`` (name -> text; absent files left out) produced.

    ``species`` are the elements of the atom types (the ``pair_coeff`` order); ``n_atoms`` the atom
    count of the starting structure; ``stderr`` the job's standard error (told when there is no
    log). A halted run is a success. Failures, in order: no log (nor stdout), no gamma series, an
    ``ERROR`` line of LAMMPS, a run that ended early without a halt, non-finite or exploded values;
    the last three still have a report.
    """
    log_text = files.get(LOG_NAME, files.get(STDOUT_NAME))
    if log_text is None:
        return MdRun(failure=('ERROR_NO_LOG', stderr.strip()[-300:] or 'no stderr either'))
    log = parse_log(log_text)
    if SERIES_NAME not in files:
        detail = log.errors[0] if log.errors else f'LAMMPS stopped before the first step after `{log.last_line}`'
        return MdRun(failure=('ERROR_NO_SERIES', detail))
    series = parse_series(files[SERIES_NAME])
    frames = parse_dump(files[DUMP_NAME], species) if DUMP_NAME in files else []
    final_frames = parse_dump(files[FINAL_DUMP_NAME], species) if FINAL_DUMP_NAME in files else []
    final = final_frames[-1] if final_frames else None
    if final is not None:
        # keep the frame that halted the run on gamma (the dump may not have reached it yet)
        dumped_steps = {atoms.info['step'] for atoms in frames}
        if (
            log.halt_reason == 'gamma_upper'
            and final.info['step'] not in dumped_steps
            and final.info.get('max_gamma', 0.0) >= parameters.gamma_lower
        ):
            frames.append(final)

    report = summarise_run(
        series,
        log,
        steps_requested=parameters.steps,
        gamma_lower=parameters.gamma_lower,
        gamma_upper=parameters.gamma_upper,
        temperature=parameters.temperature,
        frames_dumped=len(frames),
    )
    report.update(
        {
            'ensemble': parameters.ensemble,
            'temperature': parameters.temperature,
            'pressure_gpa': parameters.pressure_gpa if parameters.ensemble == 'npt' else None,
            'gamma_lower': parameters.gamma_lower,
            'gamma_upper': parameters.gamma_upper,
            'n_atoms': n_atoms,
        }
    )
    run = MdRun(report=report, series=series, frames=frames, final=final)
    if log.errors:
        run.failure = ('ERROR_LAMMPS', log.errors[0])
    elif not log.completed and not report['halted'] and report['samples'] and not report['exploded']:
        run.failure = (
            'ERROR_INCOMPLETE',
            f'{report["steps_done"]} of {parameters.steps} steps; the log ends with `{log.last_line}`',
        )
    elif report['exploded']:
        run.failure = (
            'ERROR_NON_FINITE',
            f'max temperature {report["max_temperature"]} K, non-finite values: {report["non_finite"]}',
        )
    return run


def frames_to_trajectory(frames, start=None) -> orm.TrajectoryData | None:
    """Return a ``TrajectoryData`` of ``frames`` with arrays ``gamma`` and ``numbers``; ``None`` if empty.

    Atom swaps change which element sits on which atom from frame to frame, so the elements of every
    frame are kept in the array ``numbers`` (the trajectory's ``symbols`` are those of the first
    frame). Frames whose atom count differs from the first (lost atoms) are left out. With the run's
    ``start`` cell (ASE atoms, in the frames' atom order) that repeats a smaller one, the arrays ``repeats``
    (:func:`~.fragments.lattice_repeats`) and ``sites`` (its fractional positions) are added: what the
    selection needs to cut fragments.
    """
    if not frames:
        return None
    symbols = frames[0].get_chemical_symbols()
    frames = [atoms for atoms in frames if len(atoms) == len(symbols)]
    trajectory = orm.TrajectoryData()
    trajectory.set_trajectory(
        symbols=symbols,
        positions=np.array([atoms.positions for atoms in frames]),
        stepids=np.array([atoms.info['step'] for atoms in frames], dtype=int),
        cells=np.array([atoms.cell.array for atoms in frames]),
        pbc=tuple(bool(flag) for flag in frames[0].pbc),
    )
    trajectory.set_array('gamma', np.array([atoms.arrays['gamma'] for atoms in frames]))
    trajectory.set_array('numbers', np.array([atoms.numbers for atoms in frames], dtype=int))
    if start is not None and len(start) == len(symbols):
        repeats = lattice_repeats(start)
        if repeats.prod() > 1:
            trajectory.set_array('repeats', repeats)
            trajectory.set_array('sites', start.get_scaled_positions(wrap=True))
    return trajectory


class LammpsRawMdParser(LammpsRawParser):
    """aiida-lammps' ``lammps.raw`` parser that returns an exit code where aiida-lammps 1.0.2 raises.

    aiida-lammps parses every thermo row of the stdout with ``ast.literal_eval``: a ``nan`` or
    ``inf`` (a run that blew up) raises ``ValueError`` and a blank line inside the thermo block
    ``IndexError``, and the job would end as excepted. Here such output gives
    ``ERROR_PARSING_OUTFILE`` (1001) instead; :func:`read_md_run` then says what happened to the run.
    Everything else is aiida-lammps' own parsing (the ``results`` output).
    """

    def parse(self, **kwargs):
        """Parse as aiida-lammps does; exit 1001 when its parser raises on the output."""
        try:
            return super().parse(**kwargs)
        except (ValueError, SyntaxError, IndexError, TypeError) as exception:
            self.logger.warning(f'aiida-lammps could not parse {STDOUT_NAME}: {exception!r}')
            return self.exit_codes.ERROR_PARSING_OUTFILE
