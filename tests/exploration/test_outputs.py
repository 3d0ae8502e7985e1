"""Parsers on outputs captured from real ``lmp`` runs (``fixtures/<case>/``, see make_parser_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiida_mlip_autopipe.exploration.outputs import parse_dump, parse_log, parse_series, summarise_run

from .conftest import cuau_cell

FIXTURES = Path(__file__).resolve().parent / 'fixtures'
SPECIES = ['Au', 'Cu']


def _read(case, name):
    path = FIXTURES / case / name
    return path.read_text() if path.exists() else ''


def _summary(case, steps, temperature):
    series = parse_series(_read(case, 'gamma.dat'))
    log = parse_log(_read(case, 'log.lammps'))
    frames = parse_dump(_read(case, 'frames.dump'), SPECIES)
    return series, log, frames, summarise_run(series, log, steps, 1.5, 5.0, temperature, len(frames))


def test_completed_run():
    series, log, frames, report = _summary('completed', 200, 300)
    assert log.completed and log.final_step == 200 and log.halt_fix is None and not log.errors
    assert log.wall_time_s is not None
    assert np.array_equal(series['step'], np.arange(0, 201, 10))
    assert report['completed'] and not report['halted'] and report['steps_done'] == 200
    assert report['samples'] == 21 and report['max_gamma'] == pytest.approx(series['max_gamma'].max())
    assert all(atoms.info['max_gamma'] >= 1.5 for atoms in frames)
    (final,) = parse_dump(_read('completed', 'final.dump'), SPECIES)
    reference = cuau_cell(0.25)
    assert final.info['step'] == 200 and len(final) == len(reference)
    assert final.get_volume() == pytest.approx(reference.get_volume(), rel=1e-8)  # NVT
    assert sorted(final.get_chemical_symbols()) == sorted(reference.get_chemical_symbols())
    assert final.arrays['gamma'].max() == pytest.approx(series['max_gamma'][-1], rel=1e-6)


def test_halted_run_keeps_the_halting_frame():
    series, log, frames, report = _summary('halted', 2000, 3000)
    assert log.halt_fix == 'halt_gamma' and log.halt_reason == 'gamma_upper'
    assert log.halt_value > 5.0 and log.completed and not log.errors
    assert series['step'][-1] == log.halt_step < 2000
    assert series['max_gamma'][-1] == pytest.approx(log.halt_value, rel=1e-6)
    assert report['halted'] and not report['completed'] and report['steps_done'] == log.halt_step
    assert report['fraction_above_upper'] == pytest.approx(1 / report['samples'])
    (final,) = parse_dump(_read('halted', 'final.dump'), SPECIES)
    assert final.info['step'] == log.halt_step
    assert final.info['max_gamma'] == pytest.approx(log.halt_value, rel=1e-6)
    assert len(frames) >= 5
    for atoms in frames:
        assert atoms.info['max_gamma'] >= 1.5 and atoms.info['step'] % 10 == 0
        assert len(atoms) == 32 and atoms.arrays['gamma'].shape == (32,)


def test_lammps_error_and_crash_are_reported():
    log = parse_log(_read('error', 'log.lammps'))
    assert not log.completed and log.halt_fix is None
    assert log.errors[0].startswith('ERROR: Cannot open file structure.data')
    crash = parse_log(_read('crash', 'log.lammps'))
    assert not crash.completed and not crash.errors and crash.last_line == 'Loading ASI'


def test_truncated_dump_and_non_finite_series():
    text = _read('halted', 'final.dump')
    assert parse_dump(text[: len(text) // 2], SPECIES) == []
    series_text = (
        '# step temp pe press vol atoms max_gamma n_close\n0 300 -1 0 100 32 1.1 0\n10 nan nan nan 100 32 1.2 0\n'
    )
    series = parse_series(series_text + 'garbage line\n')
    assert list(series['step']) == [0, 10]
    report = summarise_run(series, parse_log(''), 100, 1.5, 5.0, 300, 0)
    assert report['non_finite'] and report['exploded'] and not report['completed']
