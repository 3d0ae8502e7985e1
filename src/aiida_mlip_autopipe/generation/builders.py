"""Pure structure builders: ordered enumeration, distortions, point defects and surfaces.

ASE ``Atoms`` in, lists of ``Atoms`` out; every random choice comes from a ``numpy`` generator the
caller seeds. Each returned structure has ``atoms.info['parameters']``, a small JSON-serialisable
dictionary of how it was made.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence

import numpy as np
from ase import Atoms

from ..common.geometry import volume_strained

LOGGER = logging.getLogger(__name__)


def _tag(atoms: Atoms, **parameters) -> Atoms:
    atoms.info = {'parameters': {key: _plain(value) for key, value in parameters.items()}}
    return atoms


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def spread_choice(count: int, total: int, rng: np.random.Generator | None = None) -> list[int]:
    """Return ``min(count, total)`` indices spread over ``range(total)``: evenly, or at random with ``rng``."""
    count = min(count, total)
    if count <= 0:
        return []
    if rng is not None:
        return sorted(rng.choice(total, size=count, replace=False).tolist())
    return sorted({round(value) for value in np.linspace(0, total - 1, count)})


# --- ordered structures -------------------------------------------------------------------------------------------


def enumerate_ordered(
    primitive: Atoms,
    elements: Sequence[str],
    max_size: int,
    fraction_range: dict[str, tuple[float, float]] | None = None,
    max_count: int | None = None,
    max_atoms: int | None = None,
    rng: np.random.Generator | None = None,
) -> list[Atoms]:
    """Return symmetry-distinct ordered decorations of ``primitive`` with up to ``max_size`` cells (icet).

    Only structures with two or more elements are returned (end members are made elsewhere): with three
    or more elements, the ordered cells of every pair among them too. When
    more than ``max_count`` exist, a spread (or ``rng``-seeded) subset is returned, smallest cells first.
    """
    from icet.tools import enumerate_structures

    sizes = [size for size in range(1, max_size + 1) if not max_atoms or size * len(primitive) <= max_atoms]
    restrictions = {element: tuple(bounds) for element, bounds in (fraction_range or {}).items()}
    found = []
    for atoms in enumerate_structures(
        primitive, sizes, list(elements), concentration_restrictions=restrictions or None
    ):
        if len(set(atoms.get_chemical_symbols())) < 2:
            continue
        found.append(Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True))
    if max_count is None:
        indices = list(range(len(found)))
    else:
        indices = _stratified([len(atoms) for atoms in found], max_count, rng)
    return [_tag(found[index], enumeration_index=index, cells=len(found[index]) // len(primitive)) for index in indices]


def _stratified(sizes: list[int], count: int, rng: np.random.Generator | None) -> list[int]:
    """Return ``count`` indices, an equal share for each size (small sizes have few structures)."""
    groups: dict[int, list[int]] = {}
    for index, size in enumerate(sizes):
        groups.setdefault(size, []).append(index)
    chosen: list[int] = []
    ordered = sorted(groups.values(), key=len)
    for position, members in enumerate(ordered):
        share = math.ceil((count - len(chosen)) / (len(ordered) - position))
        chosen += [members[index] for index in spread_choice(share, len(members), rng)]
    return sorted(chosen[:count])


def expand_to(atoms: Atoms, min_atoms: int, max_atoms: int) -> Atoms | None:
    """Return ``atoms`` repeated along its shortest axes until it has at least ``min_atoms`` atoms.

    Returns ``None`` when that would exceed ``max_atoms``.
    """
    repeat = np.ones(3, dtype=int)
    lengths = atoms.cell.lengths()
    while len(atoms) * repeat.prod() < min_atoms:
        axis = int(np.argmin(lengths * repeat))
        repeat[axis] += 1
    if len(atoms) * repeat.prod() > max_atoms:
        return None
    expanded = atoms.repeat(tuple(int(value) for value in repeat))
    expanded.info = dict(atoms.info)
    return expanded


# --- distortions --------------------------------------------------------------------------------------------------


def strain_series(atoms: Atoms, volume_strains: Iterable[float]) -> list[Atoms]:
    """Return copies of ``atoms`` scaled isotropically to ``(1 + strain)`` times its volume."""
    return [_tag(volume_strained(atoms, strain), volume_strain=round(float(strain), 6)) for strain in volume_strains]


def random_strains(atoms: Atoms, count: int, max_strain: float, rng: np.random.Generator) -> list[Atoms]:
    """Return ``count`` copies under random symmetric strain tensors, components uniform in ``+-max_strain``."""
    structures = []
    for _ in range(count):
        strain = rng.uniform(-max_strain, max_strain, size=(3, 3))
        strain = (strain + strain.T) / 2
        strained = atoms.copy()
        strained.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
        voigt = [strain[0, 0], strain[1, 1], strain[2, 2], strain[1, 2], strain[0, 2], strain[0, 1]]
        structures.append(_tag(strained, strain_voigt=[round(float(value), 6) for value in voigt]))
    return structures


def compressed(atoms: Atoms, fractions: Iterable[float], stdev: float, rng: np.random.Generator) -> list[Atoms]:
    """Return copies of ``atoms`` shrunk isotropically so every distance is ``fraction`` of its own, then
    rattled by ``stdev`` (A): short-range data, so that a fit learns the repulsive wall instead of
    leaving it to the core repulsion it adds below its shortest training distance."""
    structures = []
    for fraction in fractions:
        shrunk = atoms.copy()
        shrunk.set_cell(atoms.cell.array * fraction, scale_atoms=True)
        shrunk.positions = shrunk.positions + rng.normal(0.0, stdev, size=shrunk.positions.shape)
        shrunk.wrap()
        structures.append(_tag(shrunk, distance_fraction=round(float(fraction), 6), rattle_stdev=float(stdev)))
    return structures


def rattle(atoms: Atoms, count: int, stdev: float, rng: np.random.Generator) -> list[Atoms]:
    """Return ``count`` copies with Gaussian displacements of standard deviation ``stdev`` (A) per component."""
    structures = []
    for _ in range(count):
        rattled = atoms.copy()
        rattled.positions = atoms.positions + rng.normal(0.0, stdev, size=atoms.positions.shape)
        rattled.wrap()
        structures.append(_tag(rattled, rattle_stdev=float(stdev)))
    return structures


# --- point defects (pymatgen-analysis-defects) --------------------------------------------------------------------


def _to_pymatgen(atoms: Atoms):
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_structure(atoms)


def _to_ase(structure) -> Atoms:
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    return Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)


# ``oxi_state=0`` below: pymatgen-analysis-defects otherwise guesses oxidation states for every
# defect (about 50 ms each), meaningless for the neutral cells made here.


def _site_index(supercell: Atoms, position: np.ndarray) -> int:
    """Return the index of the atom of ``supercell`` at Cartesian ``position`` (periodic images included)."""
    from ase.geometry import find_mic

    _vectors, lengths = find_mic(supercell.positions - position, supercell.cell, pbc=True)
    index = int(np.argmin(lengths))
    if lengths[index] > 1e-3:
        raise ValueError(f'no atom of the supercell at {position.tolist()} (nearest {lengths[index]:.3f} A away)')
    return index


def vacancies(atoms: Atoms, supercell: Atoms | None = None, symprec: float = 0.01) -> list[Atoms]:
    """Return one structure per symmetry-distinct vacancy site of ``atoms``, made in ``supercell``.

    The sites are found in the small cell ``atoms`` (pymatgen ``VacancyGenerator``; symmetry analysis
    of a large cell is slow) and removed from ``supercell``, which must contain ``atoms``' atoms at
    the same positions (``atoms.repeat`` does); by default the vacancy is made in ``atoms`` itself.
    """
    from pymatgen.analysis.defects.generators import VacancyGenerator

    supercell = atoms if supercell is None else supercell
    structures = []
    for defect in VacancyGenerator(symprec=symprec).generate(_to_pymatgen(atoms), oxi_state=0):
        defective = supercell.copy()
        del defective[_site_index(supercell, defect.site.coords)]
        structures.append(_tag(defective, defect='vacancy', species=defect.site.specie.symbol))
    return structures


def interstitials(
    atoms: Atoms, species: Sequence[str], supercell: Atoms | None = None, min_dist: float = 0.9
) -> list[Atoms]:
    """Return one structure per Voronoi interstitial site of ``atoms`` and element of ``species``.

    Sites come from pymatgen's ``VoronoiInterstitialGenerator`` on the small cell ``atoms``; the
    atom is inserted at the same Cartesian position in ``supercell`` (default ``atoms``).
    """
    from pymatgen.analysis.defects.generators import VoronoiInterstitialGenerator

    supercell = atoms if supercell is None else supercell
    structures = []
    for defect in VoronoiInterstitialGenerator(min_dist=min_dist).generate(
        _to_pymatgen(atoms), list(species), oxi_state=0
    ):
        defective = supercell.copy()
        defective.append(defect.site.specie.symbol)
        defective.positions[-1] = defect.site.coords
        defective.wrap()
        structures.append(
            _tag(
                defective,
                defect='interstitial',
                species=defect.site.specie.symbol,
                frac_coords=[round(float(value), 4) for value in defect.site.frac_coords],
            )
        )
    return structures


def antisites(atoms: Atoms, supercell: Atoms | None = None, symprec: float = 0.01) -> list[Atoms]:
    """Return one structure per symmetry-distinct antisite of ``atoms`` (an A atom becomes B, for every ordered
    pair of the elements present), in ``supercell``, sorted by (replaced, species, site).

    pymatgen-analysis-defects' ``AntiSiteGenerator`` changes the structure it is given: it gets a copy. It
    visits the pairs in the order of a set of strings, which changes from one Python process to the next:
    the sorting makes the result (and the seeded choice among it) the same in every process.
    """
    from pymatgen.analysis.defects.generators import AntiSiteGenerator

    supercell = atoms if supercell is None else supercell
    structure = _to_pymatgen(atoms)
    if len(structure.composition.elements) < 2:
        return []
    made = []
    for defect in AntiSiteGenerator(symprec=symprec).generate(structure.copy(), oxi_state=0):
        defective = supercell.copy()
        index = _site_index(supercell, defect.site.coords)
        original = defective[index].symbol
        defective[index].symbol = defect.site.specie.symbol
        made.append(((original, defect.site.specie.symbol, index), defective))
    made.sort(key=lambda item: item[0])
    return [
        _tag(defective, defect='antisite', replaced=original, species=species)
        for (original, species, _), defective in made
    ]


# --- surfaces -----------------------------------------------------------------------------------------------------


def surfaces(
    atoms: Atoms,
    miller_indices: Sequence[Sequence[int]],
    thickness: float,
    vacuum: float,
    max_atoms: int,
) -> list[Atoms]:
    """Return stoichiometric slabs of ``atoms`` (pymatgen ``SlabGenerator``) for each Miller index.

    ``thickness`` is the minimum slab thickness and ``vacuum`` the minimum vacuum, both in A; every
    termination is returned, except slabs with more than ``max_atoms`` atoms or another composition.
    """
    from pymatgen.core.surface import SlabGenerator
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    bulk_structure = SpacegroupAnalyzer(_to_pymatgen(atoms)).get_conventional_standard_structure()
    formula = bulk_structure.composition.reduced_formula
    slabs = []
    for miller in miller_indices:
        generator = SlabGenerator(
            bulk_structure,
            tuple(miller),
            min_slab_size=thickness,
            min_vacuum_size=vacuum,
            center_slab=True,
            in_unit_planes=False,
            primitive=True,
            reorient_lattice=True,
        )
        for termination, slab in enumerate(generator.get_slabs(symmetrize=False)):
            if len(slab) > max_atoms or slab.composition.reduced_formula != formula:
                continue
            slab_atoms = _to_ase(slab.get_orthogonal_c_slab())
            slab_atoms.pbc = True
            slab_atoms.wrap()
            slabs.append(
                _tag(
                    slab_atoms,
                    miller_index=list(miller),
                    termination=termination,
                    thickness=float(thickness),
                    vacuum=float(vacuum),
                )
            )
    return slabs
