"""The fixed labelled pool of the selection benchmark and its held-out sets, EMT standing in for DFT.

Everything is built once per alloy and labelled once by EMT (ASE's effective-medium calculator,
which knows Al, Cu, Ag, Au, Ni, Pd and Pt), so a selection strategy only decides which labels it
*sees*, never what they are:

- **typical** frames: Langevin MD of 32-atom fcc cells at every composition and temperature, with
  random and ordered (L1\\ :sub:`2`, L1\\ :sub:`0`) arrangements (:func:`typical_frames`);
- **rare** frames of the kinds in :data:`RARE_KINDS` (:func:`rare_frames`): vacancy, divacancy,
  antisite, surfaces, stacking-fault shifts, +-10 % volume and 5 % shear strain, vacancy-hop
  (NEB) images, liquid and compressed contacts;
- **properties** (:func:`property_frames`, :func:`property_values`): EOS and elastic strains of
  the pure elements and ordered compounds, relaxed vacancy formation and migration (NEB) energies.

Every frame has ``info['kind']`` (``typical`` or a rare kind) and ``info['stratum']`` (kind,
composition, arrangement, temperature), which stratified random selection uses. The pool and
the held-out sets come from independent random generators, so no held-out frame is in the pool.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np
from ase import Atoms, units
from ase.build import fcc111
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_numbers, reference_states
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.mep import NEB
from ase.optimize import FIRE

LOGGER = logging.getLogger(__name__)

#: Elements EMT parametrises for metals (the alloys the benchmark can build).
EMT_METALS = ('Al', 'Ni', 'Cu', 'Pd', 'Ag', 'Pt', 'Au')
#: The rare kinds of the pool and of the rare held-out set.
RARE_KINDS = (
    'vacancy',
    'divacancy',
    'antisite',
    'surface',
    'stacking_fault',
    'strain',
    'neb',
    'liquid',
    'compressed',
)
#: Rare frames per kind at scale 1 (about 8 % of a 2000-frame pool).
RARE_COUNTS = {
    'vacancy': 20,
    'divacancy': 15,
    'antisite': 15,
    'surface': 20,
    'stacking_fault': 15,
    'strain': 20,
    'neb': 15,
    'liquid': 20,
    'compressed': 15,
}
#: Fractions of the second element of the typical grid; the three inner ones also come ordered.
COMPOSITIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Conventional fcc sites (fractional) and which of them the second element takes in the ordered cells.
FCC_SITES = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])
ORDERED_SITES = {0.25: (0,), 0.5: (0, 3), 0.75: (1, 2, 3)}
TIMESTEP_FS = 2.0


def check_elements(elements: Sequence[str]) -> tuple[str, str]:
    """Return ``elements`` as a pair of distinct EMT metals, or raise naming what is allowed."""
    elements = tuple(elements)
    if len(elements) != 2 or len(set(elements)) != 2:
        raise ValueError(f'`elements`: give two different elements, got {list(elements)}')
    unknown = [symbol for symbol in elements if symbol not in EMT_METALS]
    if unknown:
        raise ValueError(f'`elements`: EMT cannot label {unknown}; allowed: {", ".join(EMT_METALS)}')
    return elements


def emt_label(frames: list[Atoms]) -> list[Atoms]:
    """Label ``frames`` in place with EMT energy and forces (a single-point calculator); return them."""
    calculator = EMT()
    for atoms in frames:
        atoms.calc = calculator
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return frames


def _snapshot(atoms: Atoms, **info) -> Atoms:
    """Return a labelled copy of ``atoms`` (whose calculator holds current results) with ``info``."""
    frame = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(), cell=atoms.cell, pbc=atoms.pbc)
    frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
    frame.info.update(info)
    return frame


def vegard(elements: Sequence[str], x: float) -> float:
    """Return the fcc lattice parameter of ``elements`` with fraction ``x`` of the second (Vegard's law)."""
    first, second = (reference_states[atomic_numbers[symbol]]['a'] for symbol in elements)
    return (1.0 - x) * first + x * second


def fcc_cell(
    elements: Sequence[str], x: float, arrangement: str, rng: np.random.Generator, a: float | None = None, repeat=2
) -> Atoms:
    """Return a ``4 * repeat**3``-atom cubic fcc cell with fraction ``x`` of ``elements[1]``.

    ``arrangement`` is ``random`` (sites drawn with ``rng``) or ``ordered`` (L1_2 at x = 0.25 and 0.75,
    L1_0 at 0.5); ``a`` defaults to Vegard's law.
    """
    a = vegard(elements, x) if a is None else a
    positions = []
    second = []
    for shift in np.ndindex(repeat, repeat, repeat):
        for site, fractional in enumerate(FCC_SITES):
            positions.append((np.array(shift) + fractional) * a)
            second.append(site in ORDERED_SITES.get(round(x, 2), ()))
    n = len(positions)
    if arrangement == 'ordered':
        if round(x, 2) not in ORDERED_SITES:
            raise ValueError(f'`arrangement`: no ordered cell at x = {x}; ordered ones: {sorted(ORDERED_SITES)}')
        is_second = np.array(second)
    elif arrangement == 'random':
        is_second = np.zeros(n, dtype=bool)
        is_second[rng.permutation(n)[: round(x * n)]] = True
    else:
        raise ValueError(f'`arrangement`: `{arrangement}`; allowed: random, ordered')
    symbols = [elements[1] if flag else elements[0] for flag in is_second]
    return Atoms(symbols, positions=positions, cell=[repeat * a] * 3, pbc=True)


def emt_md(
    atoms: Atoms, temperature: float, frames: int, every: int, skip: int, rng: np.random.Generator, **info
) -> list[Atoms]:
    """Return ``frames`` labelled snapshots of EMT Langevin MD (2 fs), one every ``every`` steps after ``skip``.

    The labels are those the MD computed at each snapshot (no second EMT call).
    """
    atoms = atoms.copy()
    atoms.calc = EMT()
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    dynamics = Langevin(
        atoms, TIMESTEP_FS * units.fs, temperature_K=temperature, friction=0.02 / units.fs, fixcm=False, rng=rng
    )
    if skip:
        dynamics.run(skip)
    out = []
    for _ in range(frames):
        dynamics.run(every)
        out.append(_snapshot(atoms, temperature=float(temperature), **info))
    return out


# -- typical frames --------------------------------------------------------------------------------------------------


def typical_frames(
    elements: Sequence[str],
    temperatures: Sequence[float],
    frames_per_run: int,
    rng: np.random.Generator,
    every: int = 10,
    skip: int = 100,
    compositions: Sequence[float] = COMPOSITIONS,
) -> list[Atoms]:
    """Return labelled MD frames of 32-atom cells over ``compositions`` x arrangements x ``temperatures``.

    One run per (composition, arrangement, temperature): random cells at every composition, ordered
    ones where :data:`ORDERED_SITES` has one; each cell's volume is scaled by up to +-2 % at random.
    """
    out = []
    for x in compositions:
        arrangements = ['random'] + (['ordered'] if round(x, 2) in ORDERED_SITES else [])
        for arrangement in arrangements:
            for temperature in temperatures:
                cell = fcc_cell(elements, x, arrangement, rng)
                cell.set_cell(cell.cell * (1 + rng.uniform(-0.02, 0.02)) ** (1 / 3), scale_atoms=True)
                out += emt_md(
                    cell,
                    temperature,
                    frames_per_run,
                    every,
                    skip,
                    rng,
                    kind='typical',
                    stratum=f'typical/x{x:.2f}/{arrangement}/{temperature:g}K',
                    composition=float(x),
                )
    return out


# -- rare frames -----------------------------------------------------------------------------------------------------


def _runs(count: int, per_run: int) -> list[int]:
    """Split ``count`` frames into runs of at most ``per_run``."""
    return [min(per_run, count - start) for start in range(0, count, per_run)]


def _inner_x(rng: np.random.Generator) -> float:
    return float(rng.choice([0.25, 0.5, 0.75]))


def _nearest(atoms: Atoms, index: int) -> int:
    distances = atoms.get_distances(index, range(len(atoms)), mic=True)
    distances[index] = np.inf
    return int(np.argmin(distances))


def _vacancy_cell(elements, rng, pair=False) -> Atoms:
    cell = fcc_cell(elements, _inner_x(rng), 'random', rng)
    index = int(rng.integers(len(cell)))
    removed = sorted({index, _nearest(cell, index)} if pair else {index}, reverse=True)
    for i in removed:
        del cell[i]
    return cell


def _antisite_cell(elements, rng) -> Atoms:
    cell = fcc_cell(elements, _inner_x(rng), 'ordered', rng)
    symbols = cell.get_chemical_symbols()
    first = [i for i, s in enumerate(symbols) if s == elements[0]]
    i = int(rng.choice(first))
    distances = cell.get_distances(i, range(len(cell)), mic=True)
    partners = [j for j in np.argsort(distances) if symbols[j] == elements[1]]
    j = int(partners[0])
    symbols[i], symbols[j] = symbols[j], symbols[i]
    cell.set_chemical_symbols(symbols)
    return cell


def _random_symbols(atoms: Atoms, elements, x: float, rng) -> Atoms:
    n = len(atoms)
    is_second = np.zeros(n, dtype=bool)
    is_second[rng.permutation(n)[: round(x * n)]] = True
    atoms.set_chemical_symbols([elements[1] if flag else elements[0] for flag in is_second])
    return atoms


def _surface_cell(elements, rng) -> Atoms:
    x = _inner_x(rng)
    a = vegard(elements, x)
    if rng.random() < 0.5:  # (100): four layers of a 2x2 cubic face
        slab = fcc_cell(elements, x, 'random', rng, a=a)
        slab.cell[2, 2] += 10.0
    else:  # (111): eight layers of a 2x2 hexagonal face
        slab = _random_symbols(fcc111(elements[0], size=(2, 2, 8), a=a, vacuum=5.0), elements, x, rng)
    slab.pbc = True
    return slab


def _stacking_fault_cell(elements, rng) -> Atoms:
    """(111) stack of eight layers whose upper half is shifted by a random fraction (0.2-1.3) of a partial."""
    x = _inner_x(rng)
    cell = _random_symbols(fcc111(elements[0], size=(2, 2, 8), a=vegard(elements, x), periodic=True), elements, x, rng)
    partial = (cell.cell[0] / 2 + cell.cell[1] / 2) / 3
    upper = cell.positions[:, 2] > cell.cell[2, 2] / 2 - 1e-6
    cell.positions[upper] += rng.uniform(0.2, 1.3) * partial
    cell.rattle(0.02, seed=int(rng.integers(2**31)))
    cell.wrap()
    return cell


def _strained_cell(elements, rng) -> Atoms:
    cell = fcc_cell(elements, float(rng.choice(COMPOSITIONS)), 'random', rng)
    deformation = np.eye(3) * float(rng.choice([0.9, 1.1])) ** (1 / 3)
    i, j = rng.choice(3, size=2, replace=False)
    deformation[i, j] += float(rng.choice([-0.05, 0.05]))
    cell.set_cell(cell.cell.array @ deformation, scale_atoms=True)
    return cell


def _compressed_cell(elements, rng) -> Atoms:
    """A cell with one pair pushed to 72-85 % of its distance (a short contact), rattled by 0.05 A."""
    cell = fcc_cell(elements, float(rng.choice(COMPOSITIONS)), 'random', rng)
    cell.rattle(0.05, seed=int(rng.integers(2**31)))
    i = int(rng.integers(len(cell)))
    j = _nearest(cell, i)
    vector = cell.get_distance(i, j, mic=True, vector=True)
    cell.positions[i] += vector * (1 - rng.uniform(0.72, 0.85))
    return cell


def relax(atoms: Atoms, fmax: float = 0.01, steps: int = 300) -> Atoms:
    """Return ``atoms`` relaxed with EMT at fixed cell (FIRE), labelled."""
    atoms = atoms.copy()
    atoms.calc = EMT()
    FIRE(atoms, logfile=None).run(fmax=fmax, steps=steps)
    return _snapshot(atoms)


def vacancy_hop(cell: Atoms, vacancy_site: np.ndarray, hopper: int, images: int = 5, fmax: float = 0.05) -> list[Atoms]:
    """Return the labelled EMT NEB path (endpoints included) of atom ``hopper`` into the empty ``vacancy_site``.

    ``cell`` already lacks the atom at ``vacancy_site``; both endpoints are relaxed at fixed cell, the
    band has ``images`` inner images and a climbing image, and is converged to ``fmax`` (at most 300 steps).
    """
    initial = relax(cell)
    final_cell = cell.copy()
    final_cell.positions[hopper] = vacancy_site
    final = relax(final_cell)
    band = [initial.copy()]
    band += [initial.copy() for _ in range(images)]
    band.append(final.copy())
    for image in band:
        image.calc = EMT()
    neb = NEB(band, climb=True, method='improvedtangent', allow_shared_calculator=False)
    neb.interpolate(mic=True)
    FIRE(neb, logfile=None).run(fmax=fmax, steps=300)
    return [_snapshot(image) for image in band]


def _neb_frames(elements, rng, count) -> list[Atoms]:
    frames = []
    while len(frames) < count:
        cell = fcc_cell(elements, _inner_x(rng), 'random', rng)
        vacancy = int(rng.integers(len(cell)))
        site = cell.positions[vacancy].copy()
        hopper = _nearest(cell, vacancy)
        del cell[vacancy]
        hopper -= hopper > vacancy
        frames += vacancy_hop(cell, site, hopper)[1:-1]
    return frames[:count]


def rare_frames(
    elements: Sequence[str], counts: dict[str, int], temperatures: Sequence[float], rng: np.random.Generator
) -> list[Atoms]:
    """Return labelled rare frames: ``counts[kind]`` of each kind of :data:`RARE_KINDS`.

    MD kinds (vacancy, divacancy, antisite, surface, strain, liquid) take five frames (four for
    surfaces and strain) per run at a random one of the two upper ``temperatures`` (surfaces and
    strain: the two lower); the liquid is melted at 2.2 times the highest and sampled at 1.5 times
    it. Static kinds: stacking-fault shifts (rattled by 0.02 A), compressed contacts, and the inner
    images of EMT NEB vacancy hops.
    """
    unknown = sorted(set(counts) - set(RARE_KINDS))
    if unknown:
        raise ValueError(f'`counts`: unknown rare kinds {unknown}; allowed: {", ".join(RARE_KINDS)}')
    temperatures = sorted(temperatures)
    hot, cool = temperatures[-2:], temperatures[:2]
    builders: dict[str, tuple[Callable, Sequence[float], int]] = {
        'vacancy': (lambda: _vacancy_cell(elements, rng), hot, 5),
        'divacancy': (lambda: _vacancy_cell(elements, rng, pair=True), hot, 5),
        'antisite': (lambda: _antisite_cell(elements, rng), hot, 5),
        'surface': (lambda: _surface_cell(elements, rng), cool, 4),
        'strain': (lambda: _strained_cell(elements, rng), cool, 4),
    }
    frames = []
    for kind in RARE_KINDS:
        count = counts.get(kind, 0)
        if count <= 0:
            continue
        info = {'kind': kind, 'stratum': f'rare/{kind}'}
        if kind in builders:
            build, temps, per_run = builders[kind]
            for size in _runs(count, per_run):
                frames += emt_md(build(), float(rng.choice(temps)), size, 10, 50, rng, **info)
        elif kind == 'liquid':
            for size in _runs(count, 5):
                cell = fcc_cell(elements, float(rng.choice(COMPOSITIONS)), 'random', rng)
                cell.set_cell(cell.cell * 1.05 ** (1 / 3), scale_atoms=True)
                melt = emt_md(cell, 2.2 * temperatures[-1], 1, 300, 0, rng)[0]
                frames += emt_md(melt, 1.5 * temperatures[-1], size, 10, 100, rng, **info)
        else:
            build = {
                'stacking_fault': lambda: _stacking_fault_cell(elements, rng),
                'compressed': lambda: _compressed_cell(elements, rng),
            }.get(kind)
            batch = _neb_frames(elements, rng, count) if kind == 'neb' else emt_label([build() for _ in range(count)])
            for atoms in batch:
                atoms.info.update(info)
            frames += batch
    return frames


def scaled_counts(scale: float) -> dict[str, int]:
    """Return :data:`RARE_COUNTS` times ``scale`` (at least one of each kind)."""
    return {kind: max(1, round(count * scale)) for kind, count in RARE_COUNTS.items()}


def plant_duplicates(frames: list[Atoms], originals: Sequence[int], rng: np.random.Generator) -> list[Atoms]:
    """Return near copies of ``frames[i]`` for ``i`` in ``originals`` (every atom moved by about 1e-4 A), labelled.

    Each copy has ``info['twin_of']`` = the index of its original. A selection that labels both
    of a pair (or the copy of a frame it already has) pays twice for one piece of information.
    """
    copies = []
    for index in originals:
        twin = Atoms(frames[index].get_chemical_symbols(), frames[index].positions, cell=frames[index].cell, pbc=True)
        twin.positions += rng.normal(scale=1e-4, size=twin.positions.shape)
        twin.info = {**frames[index].info, 'twin_of': int(index)}
        copies.append(twin)
    return emt_label(copies)


# -- properties ------------------------------------------------------------------------------------------------------

#: Phases of the property set: name -> (fraction of the second element, arrangement).
PHASES = {'A': (0.0, 'random'), 'B': (1.0, 'random'), 'A3B': (0.25, 'ordered'), 'AB': (0.5, 'ordered')}
EOS_STRAINS = tuple(np.linspace(-0.06, 0.06, 7))
ELASTIC_STRAINS = (-0.02, -0.01, 0.0, 0.01, 0.02)
EV_PER_A3_IN_GPA = 1.0 / units.GPa


def emt_lattice_parameter(elements: Sequence[str], x: float, arrangement: str) -> float:
    """Return the EMT equilibrium cubic lattice parameter of a phase (cubic fit of 9 energies within +-3 %)."""
    guess = vegard(elements, x)
    scales = np.linspace(0.97, 1.03, 9)
    rng = np.random.default_rng(0)
    energies = []
    for scale in scales:
        cell = fcc_cell(elements, x, arrangement, rng, a=guess * scale, repeat=1)
        cell.calc = EMT()
        energies.append(cell.get_potential_energy())
    fit = np.polynomial.Polynomial.fit(scales, energies, 3)
    roots = [r.real for r in fit.deriv().roots() if abs(r.imag) < 1e-12 and 0.9 < r.real < 1.1]
    best = min(roots, key=lambda r: fit(r)) if roots else scales[int(np.argmin(energies))]
    return float(guess * best)


def _strained(atoms: Atoms, strain: np.ndarray) -> Atoms:
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    return strained


def property_frames(elements: Sequence[str]) -> list[Atoms]:
    """Return the labelled frames of the property set, each with ``info['property']`` saying what it is for.

    Phases (:data:`PHASES`: both pure elements, L1_2 A3B and L1_0 AB) at their EMT lattice
    parameter: EOS (volume strains :data:`EOS_STRAINS`), tetragonal and shear strains
    (:data:`ELASTIC_STRAINS`, no internal relaxation), and the vacancy set: perfect 32-atom cells,
    relaxed vacancies (pure A, pure B, A3B without an A and without a B atom) and EMT NEB
    paths of a vacancy hop in pure A, pure B and the A sublattice of A3B.
    """
    rng = np.random.default_rng(0)
    frames = []

    def add(atoms, **info):
        atoms.info.update(property=info)
        frames.append(atoms)

    cells = {}
    for phase, (x, arrangement) in PHASES.items():
        a0 = emt_lattice_parameter(elements, x, arrangement)
        unit = fcc_cell(elements, x, arrangement, rng, a=a0, repeat=1)
        cells[phase] = fcc_cell(elements, x, arrangement, rng, a=a0)
        for strain in EOS_STRAINS:
            add(emt_label([_strained(unit, np.eye(3) * ((1 + strain) ** (1 / 3) - 1))])[0], set='eos', phase=phase)
            frames[-1].info['property']['volume_strain'] = float(strain)
        for mode in ('tetragonal', 'shear'):
            for delta in ELASTIC_STRAINS:
                strain = np.diag([delta, -delta, 0.0]) if mode == 'tetragonal' else np.zeros((3, 3))
                if mode == 'shear':
                    strain[0, 1] = strain[1, 0] = delta / 2
                add(emt_label([_strained(unit, strain)])[0], set='elastic', phase=phase, mode=mode, delta=delta)
    for phase in ('A', 'B', 'A3B'):
        add(emt_label([cells[phase].copy()])[0], set='vacancy', phase=phase, role='perfect')
    symbols = {'A': elements[0], 'B': elements[1]}
    for phase, removed in (('A', 'A'), ('B', 'B'), ('A3B', 'A'), ('A3B', 'B')):
        cell = cells[phase].copy()
        index = cell.get_chemical_symbols().index(symbols[removed])
        del cell[index]
        add(relax(cell), set='vacancy', phase=phase, role='vacancy', removed=removed)
    for phase in ('A', 'B', 'A3B'):
        cell = cells[phase].copy()
        vacancy = cell.get_chemical_symbols().index(elements[0] if phase != 'B' else elements[1])
        site = cell.positions[vacancy].copy()
        distances = cell.get_distances(vacancy, range(len(cell)), mic=True)
        same = [j for j in np.argsort(distances) if j != vacancy and cell[j].symbol == cell[vacancy].symbol]
        hopper = int(same[0]) - (same[0] > vacancy)
        del cell[vacancy]
        for image, atoms in enumerate(vacancy_hop(cell, site, hopper, fmax=0.03)):
            add(atoms, set='migration', phase=phase, image=image)
    return frames


def _curvature(x: np.ndarray, y: np.ndarray, degree: int) -> float:
    """Return the second derivative at 0 of a polynomial of ``degree`` fitted to ``(x, y)``."""
    coefficients = np.polyfit(x, y, degree)
    return float(np.polyval(np.polyder(coefficients, 2), 0.0))


def property_values(frames: list[Atoms], energies: np.ndarray) -> dict[str, float]:
    """Return the properties given the total ``energies`` (eV) of the :func:`property_frames`.

    Bulk modulus ``B/<phase>`` (GPa; curvature of E(V) at the EMT volume), ``C'/<phase>`` =
    (C11 - C12)/2 and ``C44/<phase>`` (GPa; curvature of the strain energy), vacancy formation
    ``Ef/<phase>-<removed>`` (eV; E(vacancy) - E(perfect) + energy per atom of the pure element
    removed) and migration ``Em/<phase>`` (eV; highest NEB image minus the initial one). The same
    function applied to EMT energies gives the reference, to a model's energies its prediction.
    """
    energies = np.asarray(energies, dtype=float)
    groups: dict[tuple, list[tuple[dict, float, Atoms]]] = {}
    for atoms, energy in zip(frames, energies):
        p = atoms.info['property']
        key = (p['set'], p['phase'], p.get('mode'))
        groups.setdefault(key, []).append((p, float(energy), atoms))
    values = {}
    pure = {}
    for (kind, phase, mode), rows in groups.items():
        if kind == 'eos':
            volume = rows[len(rows) // 2][2].get_volume()
            strains = np.array([p['volume_strain'] for p, _, _ in rows])
            curvature = _curvature(strains, np.array([e for _, e, _ in rows]), 3)
            values[f'B/{phase}'] = curvature / volume * EV_PER_A3_IN_GPA  # V d2E/dV2 = (1/V) d2E/d(strain)2
            if phase in ('A', 'B'):
                pure[phase] = rows[len(rows) // 2][1] / len(rows[len(rows) // 2][2])
        elif kind == 'elastic':
            volume = rows[len(rows) // 2][2].get_volume()
            deltas = np.array([p['delta'] for p, _, _ in rows])
            curvature = _curvature(deltas, np.array([e for _, e, _ in rows]), 2) / volume * EV_PER_A3_IN_GPA
            # tetragonal: E/V = (C11 - C12) d^2, so C' = E''/(4V); shear (engineering d): E/V = C44 d^2/2
            values[f"C'/{phase}" if mode == 'tetragonal' else f'C44/{phase}'] = curvature / (
                4.0 if mode == 'tetragonal' else 1.0
            )
        elif kind == 'migration':
            ordered = sorted(rows, key=lambda row: row[0]['image'])
            values[f'Em/{phase}'] = max(e for _, e, _ in ordered) - ordered[0][1]
    for (kind, phase, _), rows in groups.items():
        if kind != 'vacancy':
            continue
        perfect = next(e for p, e, _ in rows if p['role'] == 'perfect')
        for p, energy, _ in rows:
            if p['role'] == 'vacancy':
                values[f'Ef/{phase}-{p["removed"]}'] = energy - perfect + pure[p['removed']]
    return dict(sorted(values.items()))


def property_errors(values: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    """Return mean absolute errors of ``values`` against ``reference`` by property family.

    ``vacancy_formation`` and ``vacancy_migration`` in meV, ``bulk_modulus`` and ``elastic``
    (C' and C44 together) in GPa.
    """
    families = {
        'vacancy_formation': ('Ef/', 1000.0),
        'vacancy_migration': ('Em/', 1000.0),
        'bulk_modulus': ('B/', 1.0),
        'elastic': ("C'/", 1.0),
    }
    errors = {}
    for family, (prefix, factor) in families.items():
        keys = [k for k in reference if k.startswith(prefix) or (family == 'elastic' and k.startswith('C44/'))]
        deviations = [abs(values[k] - reference[k]) * factor for k in keys]
        errors[family] = float(np.mean(deviations)) if deviations else math.nan
    return errors
