"""Are the labels consistent? The same crystal labelled in two cells must give the same energy per atom.

A potential cannot fit label noise. With a coarse k-point sampling a metal's energy per atom depends
on the cell it is computed in and jumps as the mesh changes with the volume: Al and Mg at
``kpoints_distance`` 0.45 1/A disagree by 84 and 49 meV/atom between the primitive and a larger cell
of the same crystal (``benchmarks/kpoint_noise.py``, docs/cutoffs.rst). Before a QE campaign spends
its budget, it labels each element's reference crystal in both cells at a few volumes with its own
DFT settings, and stops if they disagree by more than a share of its energy target.
"""

from __future__ import annotations

from ase import Atoms
from ase.build import bulk

from ..common.geometry import volume_strained

#: Volume strains at which the two cells are compared (the mesh of each changes with the volume).
CHECK_STRAINS = (-0.06, 0.0, 0.06)
#: Largest disagreement between the two cells, as a share of the campaign's energy target.
ALLOWED_SHARE = 0.5


def reference_cells(element: str) -> tuple[Atoms, Atoms]:
    """Return the element's reference crystal in its primitive cell and in a larger cell of the same crystal.

    The larger cell is the conventional cube of a cubic crystal (8 atoms for diamond, 4 for fcc, 2 for
    bcc) and the orthorhombic cell otherwise (4 atoms for hcp). Raises ``ValueError`` if ASE has no
    reference crystal for the element.
    """
    try:
        primitive = bulk(element)
    except (ValueError, KeyError, RuntimeError) as exception:
        raise ValueError(f'{element}: ASE has no reference crystal to check the labels with ({exception})') from None
    try:
        larger = bulk(element, cubic=True)
    except (ValueError, RuntimeError):
        larger = bulk(element, orthorhombic=True)
    if len(larger) == len(primitive):
        larger = larger.repeat((2, 1, 1))
    return primitive, larger


def check_cells(element: str, strains=CHECK_STRAINS) -> dict[str, Atoms]:
    """Return the two :func:`reference_cells` of ``element`` at each volume strain.

    Keys are ``{element}_{atoms}atom_{strain tag}`` (link labels: letters, digits, underscores), e.g.
    ``Al_4atom_p6`` at +6 % (:func:`strain_tag`).
    """
    return {
        f'{element}_{len(atoms)}atom_{strain_tag(strain)}': volume_strained(atoms, strain)
        for atoms in reference_cells(element)
        for strain in strains
    }


def strain_tag(strain: float) -> str:
    """Return a volume strain in whole percent as a link-label word: ``m6`` for -0.06, ``p0``, ``p6``."""
    return f'{"m" if strain < 0 else "p"}{abs(round(100 * strain))}'


def tag_strain(tag: str) -> float:
    """Return the volume strain of a :func:`strain_tag`."""
    return (-1 if tag[0] == 'm' else 1) * int(tag[1:]) / 100


def cell_disagreement(energies_per_atom: dict[str, float]) -> dict[str, dict]:
    """Return, per element, the largest difference (meV/atom) between its two cells at the same strain.

    ``energies_per_atom`` maps the keys of :func:`check_cells` to energies per atom (eV); keys whose
    partner is missing (a failed run) are skipped. Values: ``{'mev_per_atom': ..., 'strain': ...}``.
    """
    groups: dict[tuple[str, float], list[float]] = {}
    for key, energy in energies_per_atom.items():
        element, _, tag = key.split('_')
        groups.setdefault((element, tag_strain(tag)), []).append(energy)
    result: dict[str, dict] = {}
    for (element, strain), energies in sorted(groups.items()):
        if len(energies) != 2:
            continue
        difference = 1000 * abs(energies[0] - energies[1])
        if element not in result or difference > result[element]['mev_per_atom']:
            result[element] = {'mev_per_atom': round(difference, 2), 'strain': strain}
    return result


def inconsistency_reason(disagreement: dict[str, dict], energy_target: float, kpoints_distance: float) -> str | None:
    """Return why the labels are too inconsistent for ``energy_target`` (meV/atom), or None if they are not."""
    allowed = ALLOWED_SHARE * energy_target
    bad = {element: value for element, value in disagreement.items() if value['mev_per_atom'] > allowed}
    if not bad:
        return None
    worst = ', '.join(
        f'{element} {value["mev_per_atom"]:.1f} meV/atom at volume strain {value["strain"]:+.0%}'
        for element, value in bad.items()
    )
    return (
        f'the same crystal labelled in two cells disagrees by {worst}, more than {ALLOWED_SHARE:.0%} of '
        f'`targets.energy_rmse_mev_atom` ({energy_target:g}): lower `dft.overrides.kpoints_distance` '
        f'(now {kpoints_distance:g} 1/A; metals need about 0.15, see docs/cutoffs.rst "k-point sampling") '
        'or set `dft.check_labels: false` to run anyway'
    )
