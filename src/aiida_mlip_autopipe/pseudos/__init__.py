"""The pseudopotential family that works without internet: Debian's LDA set.

Pure helpers (no profile needed) plus :func:`install_pseudo_family`, which creates an aiida-pseudo
family with the recommended cutoffs measured by ``benchmarks/pseudo_cutoffs.py``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib import resources
from pathlib import Path

#: Where Debian's ``quantum-espresso-data`` package puts its UPF files.
DEBIAN_PSEUDO_DIR = '/usr/share/espresso/pseudo'

#: One consistent LDA (Perdew-Zunger) file per element from that folder. Debian's Pt file is fully
#: relativistic and needs spin-orbit coupling (``lspinorb``), so Pt is left out.
DEBIAN_LDA_FILES = {
    'Al': 'Al.pz-vbc.UPF',
    'Au': 'Au.pz-rrkjus_aewfc.UPF',
    'Cu': 'Cu.pz-d-rrkjus.UPF',
    'Fe': 'Fe.pz-nd-rrkjus.UPF',
    'Mg': 'Mg.pz-n-vbc.UPF',
    'Ni': 'Ni.pz-nd-rrkjus.UPF',
    'Si': 'Si.pz-vbc.UPF',
    'Ti': 'Ti.pz-sp-van_ak.UPF',
}

DEFAULT_FAMILY_LABEL = 'mlip-autopipe/debian-lda'

#: Protocol name -> stringency of the family's recommended cutoffs.
PROTOCOL_STRINGENCY = {'fast': 'low', 'balanced': 'normal', 'stringent': 'high'}


def pseudo_is_norm_conserving(path: Path) -> bool:
    """Return whether the UPF file at ``path`` is norm-conserving (``NC``)."""
    header = Path(path).read_text(errors='replace')[:20000]
    for token in ('pseudo_type="NC"', 'Pseudopotential type: NC', "pseudo_type='NC'"):
        if token in header:
            return True
    return False


def load_cutoff_table() -> dict:
    """Return the measured cutoff table shipped with the package (element -> row)."""
    text = resources.files(__package__).joinpath('debian_lda.json').read_text()
    return json.loads(text)


def family_cutoffs(table: dict) -> dict:
    """Return ``{stringency: {element: {'cutoff_wfc', 'cutoff_rho'}}}`` from the measured table."""
    return {
        stringency: {
            element: {
                'cutoff_wfc': float(row[stringency]['cutoff_wfc']),
                'cutoff_rho': float(row[stringency]['cutoff_rho']),
            }
            for element, row in table.items()
        }
        for stringency in ('low', 'normal', 'high')
    }


def install_pseudo_family(label: str = DEFAULT_FAMILY_LABEL, folder: str | Path = DEBIAN_PSEUDO_DIR):
    """Create (or return, if it exists) the cutoffs family ``label`` from ``folder``.

    Only the elements of the measured table are included, one file each, so that a folder holding
    several files per element (as Debian's does) still gives a consistent family.
    """
    from aiida import orm
    from aiida.common.exceptions import NotExistent
    from aiida_pseudo.data.pseudo import UpfData
    from aiida_pseudo.groups.family import CutoffsPseudoPotentialFamily

    try:
        return orm.Group.collection.get(label=label)
    except NotExistent:
        pass

    folder = Path(folder)
    table = load_cutoff_table()
    missing = [row['file'] for row in table.values() if not (folder / row['file']).is_file()]
    if missing:
        raise FileNotFoundError(f'pseudopotential folder {folder} lacks {", ".join(missing)}')
    with tempfile.TemporaryDirectory() as tmp:
        for row in table.values():
            shutil.copy(folder / row['file'], Path(tmp) / row['file'])
        family = CutoffsPseudoPotentialFamily.create_from_folder(Path(tmp), label, pseudo_type=UpfData)
    family.description = f'LDA set from {folder}, cutoffs measured by benchmarks/pseudo_cutoffs.py'
    for stringency, cutoffs in family_cutoffs(table).items():
        family.set_cutoffs(cutoffs, stringency, unit='Ry')
    family.set_default_stringency('normal')
    return family


def load_family(label: str):
    """Return the cutoffs pseudo family ``label`` or raise ``ValueError`` saying what exists."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent
    from aiida_pseudo.groups.family import CutoffsPseudoPotentialFamily

    try:
        family = orm.Group.collection.get(label=label)
    except NotExistent:
        known = [group.label for group in orm.QueryBuilder().append(CutoffsPseudoPotentialFamily).all(flat=True)]
        raise ValueError(
            f'pseudo family `{label}` is not installed (installed cutoff families: {", ".join(known) or "none"}); '
            'run `mlip-autopipe setup` to install the default one'
        ) from None
    if not isinstance(family, CutoffsPseudoPotentialFamily):
        raise ValueError(f'group `{label}` is a {type(family).__name__}, not a pseudo family with recommended cutoffs')
    return family


def check_family_covers(family, elements) -> None:
    """Raise ``ValueError`` naming what ``family`` covers if it lacks any of ``elements``."""
    covered = set(family.elements)
    missing = sorted(set(elements) - covered)
    if missing:
        raise ValueError(
            f'pseudo family `{family.label}` has no pseudopotential for {", ".join(missing)}; '
            f'it covers {", ".join(sorted(covered))}'
        )
