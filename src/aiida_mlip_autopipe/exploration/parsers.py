"""``LammpsMdParser``: report, gamma series, candidate frames and last frame of a ``LammpsMdCalculation``."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.parsers import Parser

from .inputs import DUMP_NAME, FINAL_DUMP_NAME, LOG_NAME, SERIES_NAME, MdParameters, pair_species
from .outputs import parse_dump, parse_log, parse_series, summarise_run


def frames_to_trajectory(frames) -> orm.TrajectoryData | None:
    """Return a ``TrajectoryData`` of ``frames`` with arrays ``gamma`` and ``numbers``; ``None`` if empty.

    Atom swaps change which element sits on which atom from frame to frame, so the elements of every
    frame are kept in the array ``numbers`` (the trajectory's ``symbols`` are those of the first
    frame). Frames whose atom count differs from the first (lost atoms) are left out.
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
    return trajectory


class LammpsMdParser(Parser):
    """Parse an extrapolation-grade MD run; a halted run is a success, a crashed or exploded one is not."""

    CACHE_VERSION = 2

    def parse(self, **kwargs):
        """Attach ``report``, ``series``, ``candidates`` and ``final_structure``; return an exit code on failure."""
        retrieved = self.retrieved
        names = retrieved.base.repository.list_object_names()
        node = self.node
        parameters = MdParameters(**node.inputs.parameters.get_dict())
        species = pair_species(node.inputs.potential.lammps_pair_lines(extrapolation=True))

        if LOG_NAME not in names:
            stderr = self._read(node.get_option('scheduler_stderr'), names)
            return self.exit_codes.ERROR_NO_LOG.format(detail=stderr.strip()[-300:] or 'no stderr either')
        log = parse_log(self._read(LOG_NAME, names))
        if SERIES_NAME not in names:
            detail = log.errors[0] if log.errors else f'LAMMPS stopped before the first step after `{log.last_line}`'
            return self.exit_codes.ERROR_NO_SERIES.format(detail=detail)
        series = parse_series(self._read(SERIES_NAME, names))

        frames = parse_dump(self._read(DUMP_NAME, names), species) if DUMP_NAME in names else []
        final = parse_dump(self._read(FINAL_DUMP_NAME, names), species) if FINAL_DUMP_NAME in names else []
        if final:
            last = final[-1]
            self.out('final_structure', orm.StructureData(ase=last))
            # keep the frame that halted the run on gamma (the dump may not have reached it yet)
            dumped_steps = {atoms.info['step'] for atoms in frames}
            if (
                log.halt_reason == 'gamma_upper'
                and last.info['step'] not in dumped_steps
                and last.info.get('max_gamma', 0.0) >= parameters.gamma_lower
            ):
                frames.append(last)

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
                'n_atoms': len(node.inputs.structure.sites),
            }
        )
        self.out('report', orm.Dict(report))
        array = orm.ArrayData()
        for name, values in series.items():
            array.set_array(name, values)
        self.out('series', array)
        trajectory = frames_to_trajectory(frames)
        if trajectory is not None:
            self.out('candidates', trajectory)

        if log.errors:
            return self.exit_codes.ERROR_LAMMPS.format(detail=log.errors[0])
        if not log.completed and not report['halted'] and report['samples'] and not report['exploded']:
            return self.exit_codes.ERROR_INCOMPLETE.format(
                detail=f'{report["steps_done"]} of {parameters.steps} steps; the log ends with `{log.last_line}`'
            )
        if report['exploded']:
            return self.exit_codes.ERROR_NON_FINITE.format(
                detail=f'max temperature {report["max_temperature"]} K, non-finite values: {report["non_finite"]}'
            )
        return None

    def _read(self, name: str | None, names: list[str]) -> str:
        if not name or name not in names:
            return ''
        try:
            return self.retrieved.base.repository.get_object_content(name, mode='r')
        except (OSError, UnicodeDecodeError):
            return ''
