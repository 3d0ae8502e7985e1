"""Check that a LAMMPS executable can run the exploration (ML-PACE with ``pace/extrapolation``)."""

from __future__ import annotations

import re
import shutil
import subprocess

#: Styles the exploration input uses, by section of ``lmp -h``.
REQUIRED_STYLES = {
    'Pair styles': ('pace', 'pace/extrapolation'),
    'Fix styles': ('pair', 'halt', 'print', 'nvt', 'npt', 'atom/swap'),
    'Compute styles': ('reduce', 'coord/atom'),
}


def listed_styles(help_text: str) -> dict[str, set[str]]:
    """Return the styles per section (``Pair styles``, ``Fix styles``, ...) of ``lmp -h`` output."""
    sections: dict[str, set[str]] = {}
    current = None
    for line in help_text.splitlines():
        header = re.match(r'^\* ([A-Za-z ]+ styles)', line)
        if header:
            current = header.group(1).strip()
            sections[current] = set()
            continue
        if current is None:
            continue
        if line.startswith('*') or (line and not line.startswith(' ') and ':' in line):
            current = None if line.startswith('*') else current
            continue
        sections[current].update(token for token in line.split() if not token.startswith('('))
    return sections


def missing_styles(help_text: str) -> list[str]:
    """Return the required styles that ``lmp -h`` output ``help_text`` does not list (``'pair_style pace'``...)."""
    sections = listed_styles(help_text)
    missing = []
    for section, names in REQUIRED_STYLES.items():
        listed = sections.get(section, set())
        kind = section.split()[0].lower()
        missing += [f'{kind}_style {name}' for name in names if name not in listed]
    return missing


def check_lammps(executable: str, timeout: float = 60.0) -> None:
    """Raise ``RuntimeError`` naming what is missing unless ``executable`` is LAMMPS with ML-PACE.

    Runs ``executable -h`` (which lists the compiled-in styles) on this machine.
    """
    path = shutil.which(executable) or executable
    try:
        result = subprocess.run([path, '-h'], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exception:
        raise RuntimeError(f'cannot run `{executable} -h`: {exception}') from exception
    missing = missing_styles(result.stdout)
    if missing:
        raise RuntimeError(
            f'`{executable}` lacks {", ".join(missing)}: the exploration needs LAMMPS built with the ML-PACE, '
            'EXTRA-FIX, EXTRA-COMPUTE and MC packages (`make setup` builds one; on a cluster load a LAMMPS with '
            'ML-PACE and register it with `mlip-autopipe setup --code lmp=/path/to/lmp`)'
        )
