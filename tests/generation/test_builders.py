"""Pure builders: SQS quality, determinism, defects, surfaces, duplicates (no AiiDA profile needed)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlip_autopipe.common.duplicates import find_duplicates
from aiida_mlip_autopipe.common.geometry import min_interatomic_distance
from aiida_mlip_autopipe.generation import builders, plan
from aiida_mlip_autopipe.generation.lattice import estimate_lattice_constant, primitive_cell
from aiida_mlip_autopipe.generation.spec import GenerationSpec
from aiida_mlip_autopipe.generation.sqs import cluster_space, correlation_mismatch, default_cutoffs, generate_sqs

#: One fcc nearest-neighbour bond changing from like to unlike changes the nearest-neighbour pair
#: correlation of a 32-atom cell (192 bonds, spins +-1) by 2/192: the finest step it can take.
NN_STEP = 2 / 192


def small_spec(**changes) -> GenerationSpec:
    """A Cu-Au spec sized for tests: 8-atom SQS, short annealing, a few structures per method."""
    values = {
        'elements': ['Cu', 'Au'],
        'composition_range': {'element': 'Au', 'start': 0.0, 'stop': 1.0, 'num': 3},
        'sqs_sizes': [8],
        'sqs_steps': 400,
        'sqs_supercells': 4,
        'enumeration_max_atoms': 4,
        'defect_cell_atoms': 8,
        'max_atoms': 24,
        'counts': {
            'sqs': 1,
            'ordered': 4,
            'strain': 4,
            'random_strain': 3,
            'rattle': 3,
            'vacancy': 3,
            'interstitial': 2,
            'antisite': 2,
            'surface': 3,
        },
        'seed': 3,
    }
    values.update(changes)
    return GenerationSpec(**values)


@pytest.fixture(scope='module')
def cuau_sqs():
    """A 32-atom Cu0.5Au0.5 fcc SQS, with a short annealing (the benchmark runs the real length)."""
    primitive = primitive_cell('fcc', estimate_lattice_constant('fcc', {'Cu': 0.5, 'Au': 0.5}))
    return primitive, generate_sqs(primitive, {'Cu': 0.5, 'Au': 0.5}, 32, n_supercells=8, n_steps=3000, seed=11)


def test_sqs_composition_and_nearest_neighbour_correlation(cuau_sqs):
    """Exact 16/16 composition; nearest-neighbour pair correlation within one bond flip of the random alloy's.

    A random 16/16 occupation of the same cell misses the random alloy's nearest-neighbour
    correlation by several steps (checked below), so the tolerance of one step tests the SQS search.
    """
    primitive, result = cuau_sqs
    symbols = result.atoms.get_chemical_symbols()
    assert len(symbols) == 32
    assert symbols.count('Cu') == 16 and symbols.count('Au') == 16
    assert abs(result.pair_mismatch[0]) <= NN_STEP + 1e-9
    assert result.pair_radii[0] == pytest.approx(min_interatomic_distance(primitive, 5.0), abs=1e-3)
    assert result.as_dict()['exact_pair_shells'] >= 1
    space = cluster_space(primitive, ['Au', 'Cu'], default_cutoffs(primitive))
    rng = np.random.default_rng(0)
    random_misses = []
    for _ in range(20):
        shuffled = result.atoms.copy()
        shuffled.symbols = rng.permutation(symbols)
        random_misses.append(abs(correlation_mismatch(space, shuffled, {'Cu': 0.5, 'Au': 0.5}).pair_mismatch[0]))
    assert np.median(random_misses) > 2 * NN_STEP
    assert min_interatomic_distance(result.atoms) > 2.5


def test_sqs_same_seed_same_cell(cuau_sqs):
    primitive, result = cuau_sqs
    again = generate_sqs(primitive, {'Cu': 0.5, 'Au': 0.5}, 32, n_supercells=8, n_steps=3000, seed=11)
    assert again.atoms.get_chemical_symbols() == result.atoms.get_chemical_symbols()
    assert np.allclose(again.atoms.cell.array, result.atoms.cell.array)
    assert again.objective == result.objective


def test_vegard_lattice_constant():
    assert estimate_lattice_constant('fcc', {'Cu': 0.5, 'Au': 0.5}) == pytest.approx((3.61 + 4.08) / 2, abs=1e-6)
    # Iron keeps its atomic volume from bcc (a = 2.87 A) when placed on fcc: a_fcc = 2^(1/3) a_bcc.
    assert estimate_lattice_constant('fcc', {'Fe': 1.0}) == pytest.approx(2 ** (1 / 3) * 2.87, abs=1e-6)


def test_same_seed_same_structures_and_other_seed_differs():
    first, _ = plan.generate_all(small_spec())
    second, _ = plan.generate_all(small_spec())
    assert sorted(first) == sorted(second)
    for key in first:
        assert first[key].get_chemical_symbols() == second[key].get_chemical_symbols(), key
        assert np.allclose(first[key].positions, second[key].positions), key
    other, _ = plan.generate_all(small_spec(seed=4))
    rattled = [key for key in first if key.startswith('rattle_')]
    assert rattled and not np.allclose(first[rattled[0]].positions, other[rattled[0]].positions)


def test_defects_stoichiometry_and_distances():
    cell = bulk('Cu', 'fcc', a=3.75, cubic=True)
    cell.symbols[0] = 'Au'  # L1_2 Cu3Au
    supercell = builders.expand_to(cell, 16, 64)
    assert len(supercell) == 16
    vacancies = builders.vacancies(cell, supercell)
    assert sorted(v.info['parameters']['species'] for v in vacancies) == ['Au', 'Cu']
    for vacancy in vacancies:
        removed = vacancy.info['parameters']['species']
        assert len(vacancy) == 15
        assert vacancy.get_chemical_symbols().count(removed) == supercell.get_chemical_symbols().count(removed) - 1
    interstitials = builders.interstitials(cell, ['Cu', 'Au'], supercell)
    assert {i.info['parameters']['species'] for i in interstitials} == {'Cu', 'Au'}
    for interstitial in interstitials:
        added = interstitial.info['parameters']['species']
        assert len(interstitial) == 17
        assert interstitial.get_chemical_symbols().count(added) == supercell.get_chemical_symbols().count(added) + 1
        assert min_interatomic_distance(interstitial) > 1.5  # tetrahedral site: a*sqrt(3)/4 = 1.62 A
    antisites = builders.antisites(cell, supercell)
    assert len(antisites) == 2  # Au on the Cu site, Cu on the Au site (one distinct site each)
    for antisite in antisites:
        symbols = antisite.get_chemical_symbols()
        assert len(symbols) == 16 and abs(symbols.count('Au') - 4) == 1
        assert min_interatomic_distance(antisite) == pytest.approx(3.75 / np.sqrt(2), abs=1e-6)


def test_surfaces_stoichiometry_vacuum_and_distances():
    cell = bulk('Cu', 'fcc', a=3.75, cubic=True)
    cell.symbols[0] = 'Au'
    slabs = builders.surfaces(cell, [(1, 0, 0), (1, 1, 1)], thickness=7.0, vacuum=10.0, max_atoms=64)
    assert {tuple(s.info['parameters']['miller_index']) for s in slabs} == {(1, 0, 0), (1, 1, 1)}
    for slab in slabs:
        symbols = slab.get_chemical_symbols()
        assert symbols.count('Cu') == 3 * symbols.count('Au')
        assert min_interatomic_distance(slab) == pytest.approx(3.75 / np.sqrt(2), abs=1e-3)
        heights = slab.get_scaled_positions()[:, 2] * slab.cell.lengths()[2]
        assert np.ptp(heights) >= 7.0 - 2.0  # thickness counts layer spacing: top and bottom layer centres
        assert slab.cell.lengths()[2] - np.ptp(heights) >= 10.0


def test_duplicates_planted_twin_removed_distinct_kept():
    cell = bulk('Cu', 'fcc', a=3.75, cubic=True)
    cell.symbols[0] = 'Au'
    base = cell.repeat((2, 1, 1))
    twin = base.copy()
    twin.translate([0.4, 0.7, 1.1])  # another origin,
    twin.wrap()
    twin = twin[np.random.default_rng(1).permutation(len(twin))]  # another atom order,
    twin.set_cell(twin.cell.array[[1, 0, 2]], scale_atoms=False)  # another cell setting
    rattled = base.copy()
    rattled.rattle(0.05, seed=2)
    antisite = base.copy()
    antisite.symbols[1] = 'Au'
    duplicates = find_duplicates({'a_base': base, 'b_twin': twin, 'c_rattled': rattled, 'd_antisite': antisite})
    assert duplicates == {'b_twin': 'a_base'}


def test_screen_refuses_close_atoms_and_counts_duplicates():
    spec = small_spec()
    good = bulk('Cu', 'fcc', a=3.6, cubic=True)
    close = good.copy()
    close.positions[1] = close.positions[0] + [0.5, 0.0, 0.0]
    structures = {'bulk_000': good, 'rattle_000': close, 'strain_000': good.copy()}
    for key, atoms in structures.items():
        atoms.info = {'method': key.rsplit('_', 1)[0], 'parameters': {}}
    summary = plan.screen(spec, structures)
    assert summary['kept'] == ['bulk_000']
    assert summary['duplicates'] == {'strain_000': 'bulk_000'}
    assert 'closer than `min_distance`' in summary['refused']['rattle_000']
    assert summary['counts']['bulk'] == 1 and summary['counts']['rattle'] == 0


def test_compressed_cells_shorten_every_distance_by_the_fraction():
    """The short-range data: every distance scaled by the fraction (before rattling), volume by its cube."""
    base = bulk('Cu', 'fcc', a=3.6, cubic=True)
    nearest = min_interatomic_distance(base)
    cells = builders.compressed(base, [0.8, 0.9], 0.0, np.random.default_rng(0))
    assert [round(min_interatomic_distance(atoms) / nearest, 6) for atoms in cells] == [0.8, 0.9]
    assert cells[0].get_volume() == pytest.approx(base.get_volume() * 0.8**3)
    rattled = builders.compressed(base, [0.8], 0.05, np.random.default_rng(1))[0]
    assert rattled.info['parameters'] == {'distance_fraction': 0.8, 'rattle_stdev': 0.05}
    assert not np.allclose(rattled.get_scaled_positions(), cells[0].get_scaled_positions())


def test_ternary_enumeration_gives_the_ordered_cells_of_every_pair_and_of_all_three():
    primitive = primitive_cell('fcc', 3.9)
    found = builders.enumerate_ordered(primitive, ['Cu', 'Ag', 'Au'], 3)
    present = {frozenset(atoms.get_chemical_symbols()) for atoms in found}
    assert present == {frozenset(pair) for pair in (('Cu', 'Ag'), ('Cu', 'Au'), ('Ag', 'Au'), ('Cu', 'Ag', 'Au'))}
    # the binary enumeration is what it was: every cell holds both elements, none is pure
    binary = builders.enumerate_ordered(primitive, ['Cu', 'Au'], 3)
    assert {frozenset(atoms.get_chemical_symbols()) for atoms in binary} == {frozenset(('Cu', 'Au'))}
    assert len(binary) == len([atoms for atoms in found if set(atoms.get_chemical_symbols()) == {'Cu', 'Au'}])


ANTISITE_SCRIPT = """
import json
from ase.build import bulk
from aiida_mlip_autopipe.generation import builders
cell = bulk('Cu', 'fcc', a=3.9, cubic=True)
cell.symbols[0] = 'Au'
cell.symbols[1] = 'Ag'
made = builders.antisites(cell, cell.repeat(2))
print(json.dumps([[a.info['parameters']['replaced'], a.info['parameters']['species'], a.get_chemical_symbols()]
                  for a in made]))
"""


def test_antisites_of_every_pair_in_the_same_order_in_every_process():
    """pymatgen visits the pairs in the order of a set of strings (``PYTHONHASHSEED``): sorted, they are the same."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    results = []
    for seed in ('1', '2', '3'):
        environment = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(Path(__file__).parents[2] / 'src'))
        output = subprocess.run(
            [sys.executable, '-c', ANTISITE_SCRIPT], env=environment, capture_output=True, text=True, check=True
        )
        results.append(json.loads(output.stdout.strip().splitlines()[-1]))
    assert results[0] == results[1] == results[2]
    pairs = [(replaced, species) for replaced, species, _ in results[0]]
    # Cu2AgAu: every ordered pair of the three elements
    assert set(pairs) == {(a, b) for a in ('Ag', 'Au', 'Cu') for b in ('Ag', 'Au', 'Cu') if a != b}
    assert pairs == sorted(pairs)
