"""Pure parsers of the outputs of an extrapolation-grade MD run (no AiiDA here).

They read text (never raise on bad content: what cannot be read is reported) and return plain
numpy/ASE objects: the candidate frames with per-atom gamma, the max-gamma time series, how the
run ended (completed, halted and by which guard, or failed) and a summary for the report.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from .inputs import HALT_REASONS, SERIES_COLUMNS

HALT_PATTERN = re.compile(r'Fix halt condition for fix-id (\S+) met on step (\d+) with value (\S+)')
DONE_PATTERN = re.compile(r'MLIP_AUTOPIPE_DONE step (\d+)')
WALL_PATTERN = re.compile(r'Total wall time: (\d+):(\d+):(\d+)')
LOST_PATTERN = re.compile(r'WARNING: Lost atoms')
SWAPS_PATTERN = re.compile(r'MLIP_AUTOPIPE_SWAPS attempted (\S+) accepted (\S+)')


@dataclass
class LogSummary:
    """What ``log.lammps`` says about how a run ended."""

    completed: bool = False
    final_step: int | None = None
    halt_fix: str | None = None
    halt_step: int | None = None
    halt_value: float | None = None
    errors: list[str] = field(default_factory=list)
    lost_atoms_warning: bool = False
    wall_time_s: float | None = None
    swaps_attempted: int | None = None
    swaps_accepted: int | None = None
    last_line: str = ''

    @property
    def halt_reason(self) -> str | None:
        """Reason of the halt (a value of :data:`HALT_REASONS`), or ``None`` when the run did not halt."""
        if self.halt_fix is None:
            return None
        return HALT_REASONS.get(self.halt_fix, self.halt_fix)


def parse_log(text: str) -> LogSummary:
    """Return how the run of LAMMPS log ``text`` ended."""
    summary = LogSummary()
    for line in text.splitlines():
        stripped = line.strip()
        if stripped:
            summary.last_line = stripped
        if stripped.startswith('ERROR'):
            summary.errors.append(stripped)
            continue
        match = HALT_PATTERN.search(line)
        if match and summary.halt_fix is None:
            summary.halt_fix = match.group(1)
            summary.halt_step = int(match.group(2))
            summary.halt_value = _float(match.group(3))
            continue
        match = DONE_PATTERN.search(line)
        if match and not stripped.startswith('print'):
            summary.completed = True
            summary.final_step = int(match.group(1))
            continue
        match = SWAPS_PATTERN.search(line)
        if match and not stripped.startswith('print'):
            summary.swaps_attempted, summary.swaps_accepted = (int(_float(value)) for value in match.groups())
            continue
        if LOST_PATTERN.search(line):
            summary.lost_atoms_warning = True
        match = WALL_PATTERN.search(line)
        if match:
            hours, minutes, seconds = (int(value) for value in match.groups())
            summary.wall_time_s = float(3600 * hours + 60 * minutes + seconds)
    return summary


def _float(token: str) -> float:
    try:
        return float(token)
    except ValueError:
        return math.nan


def parse_series(text: str) -> dict[str, np.ndarray]:
    """Return the columns of the ``fix print`` series (step, temp, pe, press, vol, atoms, max_gamma, n_close).

    Unreadable rows are skipped; ``nan``/``inf`` are kept as floats.
    """
    rows = []
    for line in text.splitlines():
        tokens = line.split()
        if not tokens or tokens[0].startswith('#') or len(tokens) != len(SERIES_COLUMNS):
            continue
        values = [_float(token) for token in tokens]
        if math.isnan(values[0]):
            continue
        rows.append(values)
    table = np.array(rows, dtype=float).reshape(-1, len(SERIES_COLUMNS))
    series = {name: table[:, i] for i, name in enumerate(SERIES_COLUMNS)}
    series['step'] = series['step'].astype(int)
    return series


def parse_dump(text: str, species: list[str]) -> list[Atoms]:
    """Return the frames of a LAMMPS ``custom`` dump (``id type x y z f_gamma``).

    Each frame is an :class:`ase.Atoms` in the LAMMPS orientation, sorted by atom id, with
    ``atoms.arrays['gamma']`` (per-atom extrapolation grade) and ``atoms.info['step']`` and
    ``atoms.info['max_gamma']``. Atom type ``i`` is ``species[i - 1]``. A truncated last frame is
    dropped.
    """
    lines = text.splitlines()
    frames = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != 'ITEM: TIMESTEP':
            i += 1
            continue
        try:
            step = int(lines[i + 1])
            n_atoms = int(lines[i + 3])
            box_header = lines[i + 4]
            bounds = [[float(v) for v in lines[i + 5 + k].split()] for k in range(3)]
            columns = lines[i + 8].split()[2:]
            rows = [lines[i + 9 + k].split() for k in range(n_atoms)]
        except (IndexError, ValueError):
            break
        i += 9 + n_atoms
        if any(len(row) != len(columns) for row in rows):
            break
        cell, origin = _box(box_header, bounds)
        data = np.array(rows, dtype=float).reshape(n_atoms, len(columns))
        index = {name: k for k, name in enumerate(columns)}
        order = np.argsort(data[:, index['id']])
        data = data[order]
        try:
            symbols = [species[int(t) - 1] for t in data[:, index['type']]]
        except IndexError:
            break
        positions = data[:, [index['x'], index['y'], index['z']]] - origin
        atoms = Atoms(symbols=symbols, positions=positions, cell=cell, pbc=True)
        gamma_column = next((name for name in columns if name.startswith('f_') or name.startswith('c_')), None)
        if gamma_column is not None:
            gamma = data[:, index[gamma_column]]
            atoms.arrays['gamma'] = gamma
            atoms.info['max_gamma'] = float(np.max(gamma)) if len(gamma) else math.nan
        atoms.info['step'] = step
        frames.append(atoms)
    return frames


def _box(header: str, bounds: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(cell, origin)`` from the BOX BOUNDS lines of a dump (orthogonal or triclinic)."""
    if 'xy' in header.split():
        (xlo_b, xhi_b, xy), (ylo_b, yhi_b, xz), (zlo, zhi, yz) = bounds
        xlo = xlo_b - min(0.0, xy, xz, xy + xz)
        xhi = xhi_b - max(0.0, xy, xz, xy + xz)
        ylo = ylo_b - min(0.0, yz)
        yhi = yhi_b - max(0.0, yz)
    else:
        (xlo, xhi), (ylo, yhi), (zlo, zhi) = (b[:2] for b in bounds)
        xy = xz = yz = 0.0
    cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi - zlo]])
    return cell, np.array([xlo, ylo, zlo])


def summarise_run(
    series: dict[str, np.ndarray],
    log: LogSummary,
    steps_requested: int,
    gamma_lower: float,
    gamma_upper: float,
    temperature: float,
    frames_dumped: int,
) -> dict:
    """Return the report of one run: max gamma, fractions above the thresholds, how it ended, sanity.

    ``exploded`` is true when the series holds a non-finite value or the temperature went above
    ten times the target without a guard halting the run first.
    """
    gamma = series['max_gamma']
    finite = np.isfinite(gamma)
    samples = len(gamma)
    values = {name: series[name] for name in ('temp', 'pe', 'press', 'vol')}
    non_finite = bool(samples and not all(np.all(np.isfinite(v)) for v in [gamma, *values.values()]))
    temperatures = values['temp'][np.isfinite(values['temp'])]
    steps_done = int(series['step'][-1]) if samples else 0
    if log.final_step is not None:
        steps_done = log.final_step
    halted = log.halt_fix is not None
    exploded = non_finite or bool(len(temperatures) and temperatures.max() > 10 * temperature and not halted)
    atoms = series['atoms']
    return {
        'steps_requested': int(steps_requested),
        'steps_done': steps_done,
        'completed': bool(log.completed and not halted),
        'halted': halted,
        'halt_reason': log.halt_reason,
        'halt_step': log.halt_step,
        'halt_value': None if log.halt_value is None or not math.isfinite(log.halt_value) else log.halt_value,
        'samples': samples,
        'max_gamma': float(np.max(gamma[finite])) if finite.any() else None,
        'mean_max_gamma': float(np.mean(gamma[finite])) if finite.any() else None,
        'fraction_above_lower': float(np.mean(gamma >= gamma_lower)) if samples else 0.0,
        'fraction_above_upper': float(np.mean(gamma > gamma_upper)) if samples else 0.0,
        'frames_dumped': int(frames_dumped),
        'max_temperature': float(temperatures.max()) if len(temperatures) else None,
        'mean_temperature': float(temperatures.mean()) if len(temperatures) else None,
        'lost_atoms': bool(log.lost_atoms_warning or (samples and np.nanmin(atoms) < atoms[0])),
        'non_finite': non_finite,
        'exploded': exploded,
        'errors': log.errors[:5],
        'wall_time_s': log.wall_time_s,
        'swaps_attempted': log.swaps_attempted,
        'swaps_accepted': log.swaps_accepted,
    }
