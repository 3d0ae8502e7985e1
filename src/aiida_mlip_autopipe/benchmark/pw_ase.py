"""pw.x through ASE's Espresso calculator, for the benchmark scripts that label outside AiiDA."""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from ..common.timing import pw_cpu_seconds
from ..pseudos import DEBIAN_PSEUDO_DIR


def protocol_smearing(protocol: str) -> dict:
    """Return aiida-quantumespresso's ``occupations``, ``smearing`` and ``degauss`` of ``protocol``."""
    from aiida_quantumespresso.workflows.pw.base import PwBaseWorkChain

    system = PwBaseWorkChain.get_protocol_inputs(protocol)['pw']['parameters']['SYSTEM']
    return {key: system[key] for key in ('occupations', 'smearing', 'degauss')}


def run_pw(atoms: Atoms, input_data: dict, pseudos: dict, kpts, folder: Path, command: str = 'pw.x'):
    """Run pw.x on a copy of ``atoms`` in ``folder`` with Debian's pseudopotentials ``pseudos``.

    Returns the copy, with the results on its calculator, and pw.x's CPU seconds (its own count;
    NaN when it printed none).
    """
    from ase.calculators.espresso import Espresso, EspressoProfile

    labelled = atoms.copy()
    labelled.calc = Espresso(
        profile=EspressoProfile(command=command, pseudo_dir=str(DEBIAN_PSEUDO_DIR)),
        directory=str(folder),
        pseudopotentials=pseudos,
        kpts=kpts,
        input_data=input_data,
    )
    labelled.get_potential_energy()
    seconds = pw_cpu_seconds((Path(folder) / 'espresso.pwo').read_text())
    return labelled, float('nan') if seconds is None else seconds
