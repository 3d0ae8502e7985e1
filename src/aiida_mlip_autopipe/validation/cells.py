"""The cells a validation compares: end members, the ordered compound of each pair, one disordered cell per
composition.

End members and the ordered compounds come from :func:`~.eos.reference_cell`. For each composition
of the campaign with two or more elements present, a special quasi-random cell stands for the
random alloy: the conventional cube of the first element's lattice (fcc or bcc) repeated
:data:`SQS_REPEAT` times per direction (32 fcc or 16 bcc sites), occupied by icet's simulated
annealing so that its pair and triplet correlations come close to the random alloy's. The shape is
fixed (no search over supercells, which is what makes a general SQS slow): the cube's shortest
lattice translation, twice the cubic edge, lies beyond the pair cutoff, so no correlation is
forced by the cell itself. Seeded, so the same inputs give the same cell.

A demo-sized validation may take one repeat (``repeat=1``: 4 fcc or 2 bcc sites); such a cell is
the smallest ordered cell of its composition (L1_2, L1_0, B2), not a model of
the random alloy, and keeps the ``_sqs`` name only as the cell that stands for the composition.

Cell names: an element (``Cu``), an ordered compound (``Cu3Au``) and ``<formula>_sqs``
(``Cu16Au16_sqs``, ``Cu11Ag11Au10_sqs``: counts in the order of ``elements``).
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, reference_states

from ..common.composition import site_counts
from .eos import reference_cell

#: Repeats of the conventional cube per direction of the disordered cell (fcc: 32 sites, bcc: 16).
SQS_REPEAT = 2
#: Monte Carlo swap trials of icet's annealing (about 0.15 ms each for 32 sites).
SQS_STEPS = 5000
#: Cluster cutoffs in nearest-neighbour distances: pairs, triplets.
SQS_CUTOFFS = (2.5, 1.5)
#: Lattices a disordered cell can be built on.
SQS_LATTICES = ('fcc', 'bcc')
#: Suffix of the name of a disordered cell.
SQS_SUFFIX = '_sqs'
#: Kinds of validation cell.
CELL_KINDS = ('element', 'ordered', 'sqs')


def cell_kind(name: str, elements) -> str:
    """Return the kind of validation cell ``name``: ``element``, ``ordered`` or ``sqs``."""
    if name in elements:
        return 'element'
    return 'sqs' if name.endswith(SQS_SUFFIX) else 'ordered'


def composition_of(atoms: Atoms, elements) -> dict[str, float]:
    """Return the atomic fraction of each of ``elements`` in ``atoms`` (zero for the absent ones)."""
    symbols = atoms.get_chemical_symbols()
    return {element: symbols.count(element) / len(symbols) for element in elements}


def check_compositions(elements: list[str], compositions) -> list[dict[str, float]]:
    """Return ``compositions`` as ``[{element: fraction}]`` over ``elements``; raise ``ValueError`` naming
    the wrong entry (an element outside ``elements``, a negative fraction, fractions not summing to 1)."""
    checked = []
    for index, composition in enumerate(compositions):
        if not isinstance(composition, dict) or not composition:
            raise ValueError(f'entry {index} is {composition!r}; give a mapping such as {{"Cu": 0.75, "Au": 0.25}}')
        unknown = sorted(set(composition) - set(elements))
        if unknown:
            raise ValueError(f'entry {index} names {", ".join(unknown)}; the elements are {", ".join(elements)}')
        fractions = list(composition.values())
        if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in fractions):
            raise ValueError(f'entry {index}: fractions must be numbers, got {composition!r}')
        if min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
            raise ValueError(f'entry {index}: fractions must be non-negative and sum to 1, got {composition!r}')
        checked.append({element: float(composition.get(element, 0.0)) for element in elements})
    return checked


def default_compositions(elements: list[str]) -> list[dict[str, float]]:
    """Return the compositions used when none are given: the equiatomic one of two or more elements, else none."""
    return [{element: 1.0 / len(elements) for element in elements}] if len(elements) >= 2 else []


def sqs_lattice(elements: list[str]) -> str | None:
    """Return the lattice of the disordered cells (the first element's, if fcc or bcc), or ``None``."""
    state = reference_states[atomic_numbers[elements[0]]] or {}
    symmetry = state.get('symmetry')
    return symmetry if symmetry in SQS_LATTICES else None


def sqs_sites(lattice: str, repeat: int = SQS_REPEAT) -> int:
    """Return the number of sites of a disordered cell on ``lattice``, the cube repeated ``repeat`` times."""
    return {'fcc': 4, 'bcc': 2}[lattice] * repeat**3


def sqs_name(counts: dict[str, int]) -> str:
    """Return the name of the disordered cell with ``counts`` (elements in their order, absent ones left out)."""
    return ''.join(f'{element}{count}' for element, count in counts.items() if count) + SQS_SUFFIX


def sqs_plan(elements: list[str], compositions, repeat: int = SQS_REPEAT) -> dict[str, dict[str, int]]:
    """Return ``{name: counts}`` of the disordered cells of ``compositions`` (cubes repeated ``repeat``
    times): one per distinct whole-atom occupation with two or more elements present; none when the
    lattice is not fcc or bcc."""
    lattice = sqs_lattice(elements)
    if lattice is None:
        return {}
    plan = {}
    for composition in check_compositions(elements, compositions):
        counts = site_counts(composition, sqs_sites(lattice, repeat))
        if sum(1 for count in counts.values() if count) >= 2:
            plan.setdefault(sqs_name(counts), counts)
    return plan


def cell_names(elements: list[str], compositions, repeat: int = SQS_REPEAT) -> list[str]:
    """Return the names of every validation cell, without building the disordered ones."""
    return [*reference_cell(elements), *sqs_plan(elements, compositions, repeat)]


def _vegard_volume(counts: dict[str, int]) -> float:
    """Return the volume per atom (A^3) mixed linearly from each element's reference crystal."""
    total = sum(counts.values())
    volumes = {element: bulk(element).get_volume() / len(bulk(element)) for element in counts if counts[element]}
    return sum(volumes[element] * count / total for element, count in counts.items() if count)


def special_quasirandom_cell(
    elements: list[str], counts: dict[str, int], seed: int = 0, repeat: int = SQS_REPEAT
) -> Atoms:
    """Return a special quasi-random cell with ``counts`` atoms of each element on the cube repeated
    ``repeat`` times (see the module text).

    The lattice is the first element's (:func:`sqs_lattice`), scaled to the volume per atom of
    Vegard's law over the elements' reference crystals; the occupation is icet's annealing of
    :data:`SQS_STEPS` trials from ``seed`` on the cluster space of pairs and triplets within
    :data:`SQS_CUTOFFS` nearest-neighbour distances.
    """
    from icet import ClusterSpace
    from icet.tools.structure_generation import generate_sqs_from_supercells

    lattice = sqs_lattice(elements)
    if lattice is None:
        raise ValueError(f'no disordered cell on the lattice of {elements[0]}; allowed: {", ".join(SQS_LATTICES)}')
    present = [element for element in elements if counts.get(element)]
    sites = sum(counts.values())
    if sites != sqs_sites(lattice, repeat):
        raise ValueError(f'counts {counts} do not fill the {sqs_sites(lattice, repeat)} sites of the {lattice} cell')
    primitive = bulk(elements[0], lattice, a=1.0)
    cube = bulk(elements[0], lattice, a=1.0, cubic=True).repeat(repeat)
    scale = (_vegard_volume(counts) / (cube.get_volume() / len(cube))) ** (1 / 3)
    primitive.set_cell(primitive.cell * scale, scale_atoms=True)
    cube.set_cell(cube.cell * scale, scale_atoms=True)
    nearest = scale / math.sqrt(2) if lattice == 'fcc' else scale * math.sqrt(3) / 2
    space = ClusterSpace(primitive, [factor * nearest + 0.01 for factor in SQS_CUTOFFS], [present])
    concentrations = {element: counts[element] / sites for element in present}
    atoms = generate_sqs_from_supercells(space, [cube], concentrations, n_steps=SQS_STEPS, random_seed=int(seed))
    cell = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)
    order = np.argsort([elements.index(symbol) for symbol in cell.get_chemical_symbols()], kind='stable')
    return cell[order]


def validation_cells(elements: list[str], compositions, seed: int = 0, repeat: int = SQS_REPEAT) -> dict[str, Atoms]:
    """Return every validation cell by name: :func:`~.eos.reference_cell` plus the disordered cells of
    ``compositions`` (:func:`sqs_plan`, cubes repeated ``repeat`` times)."""
    cells = reference_cell(elements)
    for name, counts in sqs_plan(elements, compositions, repeat).items():
        cells[name] = special_quasirandom_cell(elements, counts, seed, repeat)
    return cells
