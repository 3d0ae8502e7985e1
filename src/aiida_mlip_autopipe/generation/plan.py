"""From a :class:`GenerationSpec` to structures, stage by stage, without AiiDA.

Each stage returns ``{key: Atoms}`` with ``atoms.info['method']`` and ``atoms.info['parameters']``;
keys are ``<method>_<index>`` (valid AiiDA link labels). The work chain calls the same stages through
calcfunctions; :func:`generate_all` runs them in one go (benchmarks, tests, scripts).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

import numpy as np
from ase import Atoms

from ..common.composition import site_counts
from ..common.duplicates import find_duplicates
from ..common.geometry import min_interatomic_distance
from . import builders
from .spec import METHODS, GenerationSpec
from .sqs import default_cutoffs, generate_sqs

LOGGER = logging.getLogger(__name__)


def method_rng(spec: GenerationSpec, method: str) -> np.random.Generator:
    """Return the random generator of ``method``: seeded by the spec's seed and the method alone."""
    return np.random.default_rng([spec.seed, METHODS.index(method)])


def _keyed(method: str, structures: Iterable[Atoms], **common) -> dict[str, Atoms]:
    keyed = {}
    for index, atoms in enumerate(structures):
        parameters = dict(common)
        parameters.update(atoms.info.get('parameters', {}))
        atoms.info = {'method': method, 'parameters': parameters}
        keyed[f'{method}_{index:03d}'] = atoms
    return keyed


def _composition_of(atoms: Atoms, elements: list[str]) -> dict[str, float]:
    symbols = atoms.get_chemical_symbols()
    return {element: symbols.count(element) / len(symbols) for element in elements}


# --- stage 1: bulk cells ------------------------------------------------------------------------------------------


def bulk_structures(spec: GenerationSpec) -> dict[str, Atoms]:
    """Return the end members (conventional cells) and the enumerated ordered cells of every parent lattice."""
    structures = {}
    end_members = []
    for lattice in spec.parent_cells():
        for element in spec.end_members():
            atoms = spec.conventional(lattice, element)
            atoms.info = {'parameters': {'lattice': lattice, 'element': element, 'a': _a(spec, lattice, element)}}
            end_members.append(atoms)
    structures.update(_keyed('bulk', end_members))
    structures.update(_keyed('ordered', ordered_structures(spec)))
    return structures


def _a(spec: GenerationSpec, lattice: str, element: str) -> float | None:
    if spec.parent_structure is not None and lattice == spec.parent_structure.name:
        return None
    return round(spec.lattice_constant(lattice, {element: 1.0}), 5)


def ordered_structures(spec: GenerationSpec) -> list[Atoms]:
    """Return up to ``counts.ordered`` enumerated ordered cells, spread over lattices, sizes and compositions.

    Each cell is enumerated on a unit-scaled parent and then scaled to Vegard's lattice constant of
    its own composition (or the given one).
    """
    if spec.counts.ordered == 0 or len(spec.elements) < 2:
        return []
    points = spec.composition_points()
    bounds = {element: (min(p[element] for p in points), max(p[element] for p in points)) for element in spec.elements}
    parents = spec.parent_cells()
    per_lattice = math.ceil(spec.counts.ordered / len(parents))
    rng = method_rng(spec, 'ordered')
    structures = []
    for lattice, parent in parents.items():
        reference = {element: 1.0 / len(spec.elements) for element in spec.elements}
        primitive = parent(reference)
        max_size = spec.enumeration_atoms() // len(primitive)
        if max_size < 1:
            continue
        for atoms in builders.enumerate_ordered(
            primitive, spec.elements, max_size, bounds, per_lattice, spec.max_atoms, rng=rng
        ):
            composition = _composition_of(atoms, spec.elements)
            if lattice in (spec.lattice_constants or {}) or lattice not in spec.lattices:
                scaled = atoms
            else:
                scale = spec.lattice_constant(lattice, composition) / spec.lattice_constant(lattice, reference)
                scaled = atoms.copy()
                scaled.set_cell(atoms.cell.array * scale, scale_atoms=True)
                scaled.info = atoms.info
            scaled.info['parameters'].update(lattice=lattice, formula=scaled.get_chemical_formula())
            structures.append(scaled)
    return structures[: spec.counts.ordered]


# --- stage 2: special quasirandom structures ----------------------------------------------------------------------


def whole_atoms(composition: dict[str, float], size: int) -> dict[str, float]:
    """Return the composition of ``size`` atoms nearest to ``composition`` (largest remainders, order kept)."""
    return {element: round(count / size, 10) for element, count in site_counts(composition, size).items()}


def sqs_tasks(spec: GenerationSpec) -> list[dict]:
    """Return the SQS cells to make, up to ``counts.sqs``, spread over compositions, lattices and sizes.

    With ``sqs_rounding`` each composition is the whole-atom occupation of the size nearest to the
    point (:func:`whole_atoms`); occupations with fewer than two elements, or met before, are skipped.
    """
    tasks, seen = [], set()
    for lattice, parent in spec.parent_cells().items():
        for point in spec.alloy_compositions():
            for size in spec.sqs_sizes:
                composition = whole_atoms(point, size) if spec.sqs_rounding else point
                identity = (lattice, size, tuple(composition.values()))
                if sum(value > 0 for value in composition.values()) < 2 or identity in seen:
                    continue
                seen.add(identity)
                sites = len(parent(composition))
                tasks.append({'lattice': lattice, 'composition': composition, 'atoms': size, 'cells': size // sites})
    chosen = [tasks[index] for index in builders.spread_choice(spec.counts.sqs, len(tasks))]
    for index, task in enumerate(chosen):
        task['seed'] = spec.seed * 1000 + index
    return chosen


def sqs_structure(spec: GenerationSpec, task: dict) -> tuple[Atoms, dict]:
    """Return the SQS cell of one task from :func:`sqs_tasks` and its correlation figures of merit."""
    composition = {element: value for element, value in task['composition'].items() if value > 0}
    primitive = spec.parent_cells()[task['lattice']](task['composition'])
    cutoffs = list(spec.sqs_cutoffs) if spec.sqs_cutoffs else default_cutoffs(primitive)
    result = generate_sqs(
        primitive,
        composition,
        task['cells'],
        cutoffs=cutoffs,
        n_supercells=spec.sqs_supercells,
        n_steps=spec.sqs_steps,
        seed=task['seed'],
    )
    figures = result.as_dict()
    atoms = result.atoms
    atoms.info = {
        'method': 'sqs',
        'parameters': {
            'lattice': task['lattice'],
            'composition': composition,
            'atoms': task['atoms'],
            'cutoffs': [round(value, 4) for value in cutoffs],
            'steps': spec.sqs_steps,
            'supercells': spec.sqs_supercells,
            'seed': task['seed'],
            'objective': figures['objective'],
            'max_pair_mismatch': figures['max_pair_mismatch'],
            'max_triplet_mismatch': figures['max_triplet_mismatch'],
            'exact_pair_shells': figures['exact_pair_shells'],
        },
    }
    return atoms, figures


# --- stage 3: structures derived from the bulk cells -------------------------------------------------------------


def _bases(bulk: dict[str, Atoms], methods: tuple[str, ...] = ('bulk', 'sqs', 'ordered')) -> list[tuple[str, Atoms]]:
    """Return the bulk cells in a fair order: end members, SQS, ordered (each group in key order)."""
    return [(key, bulk[key]) for method in methods for key in sorted(bulk) if bulk[key].info.get('method') == method]


def _interleave(count: int, bases: list[tuple[str, object]], make: Callable[[object], list[Atoms]], rng=None):
    """Take up to ``count`` structures made from the bases, a fair share of each base, in base order."""
    taken: list[Atoms] = []
    for position, (key, atoms) in enumerate(bases):
        remaining = count - len(taken)
        if remaining <= 0:
            break
        share = math.ceil(remaining / (len(bases) - position))
        made = make(atoms)
        for index in builders.spread_choice(share, len(made), rng):
            made[index].info['parameters']['base'] = key
            taken.append(made[index])
    return taken


def _small(bases: list[tuple[str, Atoms]], max_atoms: int = 4) -> list[tuple[str, Atoms]]:
    """Return the bases with at most ``max_atoms`` atoms (Voronoi site search is slow on larger cells)."""
    return [(key, atoms) for key, atoms in bases if len(atoms) <= max_atoms]


def distorted_structures(spec: GenerationSpec, bulk: dict[str, Atoms]) -> dict[str, Atoms]:
    """Return the volume-strain series, random strains, rattled supercells and compressed cells of the bulk cells."""
    structures: dict[str, Atoms] = {}
    bases = _bases(bulk)
    strains = [value for value in np.linspace(*spec.strain_range, spec.strain_points + 1) if abs(value) > 1e-9]
    strains = strains[: spec.strain_points]
    # whole series (an equation of state each) for the first bases: end members, then SQS, then ordered
    series_bases = bases[: math.ceil(spec.counts.strain / max(len(strains), 1))] if strains else []
    structures.update(
        _keyed(
            'strain',
            _interleave(spec.counts.strain, series_bases, lambda atoms: builders.strain_series(atoms, strains)),
        )
    )
    rng = method_rng(spec, 'random_strain')
    per_base = max(1, math.ceil(spec.counts.random_strain / max(len(bases), 1)))
    structures.update(
        _keyed(
            'random_strain',
            _interleave(
                spec.counts.random_strain,
                bases,
                lambda atoms: builders.random_strains(atoms, per_base, spec.max_random_strain, rng),
            ),
        )
    )
    rng = method_rng(spec, 'rattle')
    stdevs = iter(np.resize(spec.rattle_stdevs, spec.counts.rattle + len(bases) * 4))
    per_base = max(1, math.ceil(spec.counts.rattle / max(len(bases), 1)))

    def rattled(atoms: Atoms) -> list[Atoms]:
        expanded = builders.expand_to(atoms, spec.defect_cell_atoms, spec.max_atoms) or atoms
        return [builders.rattle(expanded, 1, float(next(stdevs)), rng)[0] for _ in range(per_base)]

    structures.update(_keyed('rattle', _interleave(spec.counts.rattle, bases, rattled)))
    rng = method_rng(spec, 'compressed')
    structures.update(
        _keyed(
            'compressed',
            _interleave(
                spec.counts.compressed,
                bases,
                lambda atoms: builders.compressed(atoms, spec.compressed_distances, spec.compressed_rattle, rng),
            ),
        )
    )
    return structures


def defect_structures(spec: GenerationSpec, bulk: dict[str, Atoms]) -> dict[str, Atoms]:
    """Return vacancies, interstitials (ordered cells only) and antisites (alloys only) in bulk supercells."""
    structures: dict[str, Atoms] = {}

    def expanded(atoms: Atoms, spare: int = 0) -> Atoms | None:
        return builders.expand_to(atoms, spec.defect_cell_atoms, spec.max_atoms - spare)

    def vacancies(atoms):
        cell = expanded(atoms)
        return builders.vacancies(atoms, cell) if cell is not None and len(cell) > 1 else []

    def interstitials(atoms):
        cell = expanded(atoms, spare=1)
        return builders.interstitials(atoms, spec.elements, cell) if cell is not None else []

    def antisites(atoms):
        cell = expanded(atoms)
        return builders.antisites(atoms, cell) if cell is not None else []

    structures.update(
        _keyed('vacancy', _interleave(spec.counts.vacancy, _bases(bulk), vacancies, method_rng(spec, 'vacancy')))
    )
    structures.update(
        _keyed(
            'interstitial',
            _interleave(
                spec.counts.interstitial,
                _small(_bases(bulk, ('bulk', 'ordered'))),
                interstitials,
                method_rng(spec, 'interstitial'),
            ),
        )
    )
    alloys = [(key, atoms) for key, atoms in _bases(bulk) if len(set(atoms.numbers)) > 1]
    structures.update(
        _keyed('antisite', _interleave(spec.counts.antisite, alloys, antisites, method_rng(spec, 'antisite')))
    )
    return structures


def surface_structures(spec: GenerationSpec, bulk: dict[str, Atoms]) -> dict[str, Atoms]:
    """Return stoichiometric low-index slabs of the end members and the small ordered cells.

    Slab tasks (a bulk cell and a Miller index) are visited so that consecutive tasks differ in
    both, until ``counts.surface`` slabs are made.
    """
    bases = _small(_bases(bulk, ('bulk', 'ordered')))
    millers = spec.surface_miller_indices
    tasks = [
        (bases[index][0], (bases[index][1], millers[(index + shift) % len(millers)]))
        for shift in range(len(millers))
        for index in range(len(bases))
    ]

    def slabs(task):
        atoms, miller = task
        return builders.surfaces(atoms, [miller], spec.surface_thickness, spec.surface_vacuum, spec.max_atoms)

    return _keyed('surface', _interleave(spec.counts.surface, tasks, slabs, method_rng(spec, 'surface')))


# --- stage 4: screening and duplicates ----------------------------------------------------------------------------


def screen(spec: GenerationSpec, structures: dict[str, Atoms]) -> dict:
    """Return which structures to keep: atoms too close or too many are refused, duplicates removed.

    The result has ``kept`` (keys), ``duplicates`` (``{key: key of its twin}``), ``refused``
    (``{key: reason}``) and ``counts`` (kept per method).
    """
    refused = {}
    for key, atoms in structures.items():
        if len(atoms) > spec.max_atoms:
            refused[key] = f'{len(atoms)} atoms, more than `max_atoms` {spec.max_atoms}'
            continue
        shortest = min_interatomic_distance(atoms, search_radius=max(spec.min_distance, 0.1))
        if shortest < spec.min_distance:
            refused[key] = f'atoms {shortest:.3f} A apart, closer than `min_distance` {spec.min_distance} A'
    candidates = {key: atoms for key, atoms in structures.items() if key not in refused}
    duplicates = find_duplicates(candidates, tolerance=spec.duplicate_tolerance)
    kept = sorted(key for key in candidates if key not in duplicates)
    counts = {method: 0 for method in METHODS}
    for key in kept:
        counts[structures[key].info['method']] += 1
    return {'kept': kept, 'duplicates': duplicates, 'refused': refused, 'counts': counts}


def generate_all(spec: GenerationSpec) -> tuple[dict[str, Atoms], dict]:
    """Run every stage; return the kept structures and the summary of :func:`screen` plus SQS figures."""
    bulk = bulk_structures(spec)
    sqs_figures = {}
    for index, task in enumerate(sqs_tasks(spec)):
        atoms, figures = sqs_structure(spec, task)
        bulk[f'sqs_{index:03d}'] = atoms
        sqs_figures[f'sqs_{index:03d}'] = figures
    structures = dict(bulk)
    structures.update(distorted_structures(spec, bulk))
    structures.update(defect_structures(spec, bulk))
    structures.update(surface_structures(spec, bulk))
    summary = screen(spec, structures)
    summary['sqs'] = sqs_figures
    return {key: structures[key] for key in summary['kept']}, summary
