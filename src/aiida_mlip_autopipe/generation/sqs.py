"""Special quasirandom structures (SQS) with icet, and how far they are from the random alloy.

The expensive part of icet's own ``generate_sqs`` is the symmetry reduction of every supercell
shape of a given size (about a minute for 32-atom fcc cells here) and then an annealing run over
all of them, many elongated shapes that cannot host a random alloy anyway. Here the candidate
shapes are chosen directly: every Hermite normal form of the requested size is built, reduced,
and ranked by its shortest lattice translation (a short translation makes a pair correlation of
that length equal to one, whatever the occupation); the most compact distinct shapes go to icet's
``generate_sqs_from_supercells``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.build import make_supercell
from ase.geometry import minkowski_reduce
from icet import ClusterSpace
from icet.tools.structure_generation import (
    _get_sqs_cluster_vector,
    generate_sqs_from_supercells,
)
from mchammer.calculators import compare_cluster_vectors

LOGGER = logging.getLogger(__name__)

#: Exact-match tolerance of a correlation (icet's own default for the SQS objective).
EXACT_TOLERANCE = 1e-5


@dataclass
class SqsResult:
    """An SQS cell and how well its correlations match the random alloy's."""

    atoms: Atoms
    objective: float
    pair_radii: list[float] = field(default_factory=list)
    pair_mismatch: list[float] = field(default_factory=list)
    triplet_radii: list[float] = field(default_factory=list)
    triplet_mismatch: list[float] = field(default_factory=list)
    exact_pair_shells: int = 0

    def as_dict(self) -> dict:
        """Return the figures of merit as plain JSON-serialisable values."""
        return {
            'objective': float(self.objective),
            'pair_radii': [round(float(value), 4) for value in self.pair_radii],
            'pair_mismatch': [round(float(value), 6) for value in self.pair_mismatch],
            'triplet_radii': [round(float(value), 4) for value in self.triplet_radii],
            'triplet_mismatch': [round(float(value), 6) for value in self.triplet_mismatch],
            'max_pair_mismatch': round(float(max(np.abs(self.pair_mismatch), default=0.0)), 6),
            'max_triplet_mismatch': round(float(max(np.abs(self.triplet_mismatch), default=0.0)), 6),
            'exact_pair_shells': int(self.exact_pair_shells),
        }


def _hermite_normal_forms(size: int):
    """Yield every lower-triangular Hermite normal form with determinant ``size``."""
    for a in range(1, size + 1):
        if size % a:
            continue
        for c in range(1, size // a + 1):
            if (size // a) % c:
                continue
            f = size // (a * c)
            for b in range(c):
                for d in range(f):
                    for e in range(f):
                        yield np.array([[a, 0, 0], [b, c, 0], [d, e, f]])


def compact_supercell_matrices(primitive: Atoms, size: int, count: int) -> list[np.ndarray]:
    """Return up to ``count`` supercell matrices of ``size`` primitive cells, most compact first.

    Compactness is the length of the shortest lattice translation of the supercell; shapes with
    the same reduced metric (lengths and angles of the Minkowski-reduced cell) count once. The
    ranking is remembered per cell shape and size (a few seconds for 32 fcc cells).
    """
    key = tuple(np.round(primitive.cell.array, 6).ravel())
    return [matrix.copy() for matrix in _compact_matrices(key, size, count)]


@functools.lru_cache(maxsize=32)
def _compact_matrices(cell_key: tuple, size: int, count: int) -> tuple[np.ndarray, ...]:
    cell_array = np.array(cell_key).reshape(3, 3)
    if size < 1 or count < 1:
        raise ValueError(f'size and count must be positive, got size={size}, count={count}')
    scored = {}
    for hnf in _hermite_normal_forms(size):
        matrix = hnf.T
        cell = matrix @ cell_array
        reduced, operation = minkowski_reduce(cell)
        metric = reduced @ reduced.T
        lengths = np.sqrt(np.diag(metric))
        key = tuple(np.round(np.sort(np.abs(np.concatenate([np.diag(metric), metric[np.triu_indices(3, 1)]]))), 3))
        if key not in scored:
            scored[key] = (float(lengths.min()), operation @ matrix)
    ranked = sorted(scored.values(), key=lambda item: -item[0])
    return tuple(np.rint(matrix).astype(int) for _, matrix in ranked[:count])


def default_cutoffs(primitive: Atoms, pair_shells: float = 2.5, triplet_shells: float = 1.5) -> list[float]:
    """Return cluster cutoffs (A) as multiples of the nearest-neighbour distance of ``primitive``."""
    from ..common.geometry import min_interatomic_distance

    nearest = min_interatomic_distance(primitive, search_radius=10.0)
    return [pair_shells * nearest + 0.01, triplet_shells * nearest + 0.01]


def cluster_space(primitive: Atoms, elements: list[str], cutoffs: list[float]) -> ClusterSpace:
    """Return the icet cluster space of ``elements`` on every site of ``primitive``."""
    return ClusterSpace(primitive, list(cutoffs), [list(elements)] * len(primitive))


def correlation_mismatch(space: ClusterSpace, atoms: Atoms, composition: dict[str, float]) -> SqsResult:
    """Compare the cluster vector of ``atoms`` with the random alloy of ``composition``.

    The objective is van de Walle's measure used by icet (sum of absolute differences minus the
    radius of the longest exactly matched pair shell); mismatches are ``SQS - random``.
    """
    target = _get_sqs_cluster_vector(space, _concentrations(composition))
    vector = space.get_cluster_vector(atoms)
    orbits = space.as_list
    objective = compare_cluster_vectors(vector, target, orbits, tol=EXACT_TOLERANCE)
    result = SqsResult(atoms=atoms, objective=float(objective))
    difference = vector - target
    for orbit, delta in zip(orbits, difference):
        if orbit['order'] == 2:
            result.pair_radii.append(2 * orbit['radius'])
            result.pair_mismatch.append(float(delta))
        elif orbit['order'] == 3:
            result.triplet_radii.append(orbit['radius'])
            result.triplet_mismatch.append(float(delta))
    for delta in result.pair_mismatch:
        if abs(delta) > EXACT_TOLERANCE:
            break
        result.exact_pair_shells += 1
    return result


def _concentrations(composition: dict[str, float]) -> dict[str, float]:
    return {element: float(fraction) for element, fraction in composition.items() if fraction > 0}


def generate_sqs(
    primitive: Atoms,
    composition: dict[str, float],
    size: int,
    cutoffs: list[float] | None = None,
    n_supercells: int = 6,
    n_steps: int = 12000,
    seed: int = 0,
) -> SqsResult:
    """Return an SQS of ``size`` primitive cells of ``primitive`` for ``composition``.

    Parameters
    ----------
    primitive
        Parent lattice, one atom per site (its species are ignored).
    composition
        Fraction of each element; ``fraction * size * len(primitive)`` must be an integer.
    size
        Number of primitive cells in the SQS.
    cutoffs
        Cluster cutoffs (A) for pairs, triplets, ...; default :func:`default_cutoffs`.
    n_supercells
        How many of the most compact supercell shapes the annealing may choose from.
    n_steps
        Monte Carlo swap trials of the annealing (about 1 ms each for 32 atoms).
    seed
        Seed of icet's random start and Monte Carlo; the same seed gives the same cell.
    """
    elements = sorted(composition)
    cutoffs = list(cutoffs) if cutoffs else default_cutoffs(primitive)
    space = cluster_space(primitive, elements, cutoffs)
    sites = size * len(primitive)
    for element, fraction in composition.items():
        if abs(fraction * sites - round(fraction * sites)) > 1e-6:
            raise ValueError(f'composition {composition} cannot be realised on {sites} sites ({element})')
    supercells = [
        make_supercell(primitive, matrix) for matrix in compact_supercell_matrices(primitive, size, n_supercells)
    ]
    atoms = generate_sqs_from_supercells(
        space, supercells, _concentrations(composition), n_steps=n_steps, random_seed=seed
    )
    atoms = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)
    atoms.wrap()
    LOGGER.debug('SQS %s on %d sites done', composition, sites)
    return correlation_mismatch(space, atoms, composition)
