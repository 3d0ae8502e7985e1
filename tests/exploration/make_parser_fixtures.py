"""Capture the outputs of real ``lmp`` runs into ``fixtures/<case>/`` for the parser tests.

Run from the repository root after ``make setup``::

    .venv/bin/python tests/exploration/make_parser_fixtures.py

Cases: ``completed`` (300 K, in domain), ``halted`` (900 K, outside what the small fixture
potential knows: halts on gamma_upper), ``error`` (no data file: LAMMPS stops with an ERROR line),
``crash`` (no active set file: LAMMPS aborts without an ERROR line).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / 'src'))
sys.path.insert(0, str(HERE.parents[1]))

from aiida_mlip_autopipe.exploration.inputs import (  # noqa: E402
    DUMP_NAME,
    FINAL_DUMP_NAME,
    INPUT_NAME,
    LOG_NAME,
    SERIES_NAME,
    MdParameters,
    write_data_file,
    write_md_input,
)
from aiida_mlip_autopipe.setup import default_executable  # noqa: E402
from tests.exploration.conftest import FIXTURE, cuau_cell  # noqa: E402

PAIR = ['pair_style pace/extrapolation', 'pair_coeff * * potential.yaml potential.asi Au Cu']
#: case -> (structure, MD parameters, files left out of the run folder)
CASES = {
    'completed': (cuau_cell(0.25), {'temperature': 300, 'steps': 200}, ()),
    'halted': (cuau_cell(0.25), {'temperature': 900, 'steps': 2000, 'dump_every': 10}, ()),
    'error': (cuau_cell(0.25), {'temperature': 300, 'steps': 200}, ('structure.data',)),
    'crash': (cuau_cell(0.25), {'temperature': 300, 'steps': 200}, ('potential.asi',)),
}


def main():
    for case, (atoms, values, missing) in CASES.items():
        parameters = MdParameters(gamma_lower=1.5, gamma_upper=5.0, seed=11, timestep_fs=2.0, **values)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / 'structure.data').write_text(write_data_file(atoms, ['Au', 'Cu']))
            (folder / INPUT_NAME).write_text(write_md_input(parameters, PAIR, len(atoms)))
            shutil.copy(FIXTURE / 'potential.yaml', folder)
            shutil.copy(FIXTURE / 'potential.asi', folder)
            for name in missing:
                (folder / name).unlink()
            subprocess.run(
                [default_executable('lmp'), '-nocite', '-in', INPUT_NAME, '-log', LOG_NAME],
                cwd=folder,
                capture_output=True,
                check=False,
            )
            target = HERE / 'fixtures' / case
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for name in (LOG_NAME, SERIES_NAME, DUMP_NAME, FINAL_DUMP_NAME):
                if (folder / name).exists():
                    shutil.copy(folder / name, target / name)
            print(case, sorted(path.name for path in target.iterdir()))


if __name__ == '__main__':
    main()
