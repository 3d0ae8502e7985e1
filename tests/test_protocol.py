"""Inputs of the pw.x runs built from a protocol (serialised and compared)."""

from __future__ import annotations

import itertools

import pytest
from aiida import orm
from aiida_quantumespresso.common.types import SpinType
from ase.build import bulk

from aiida_mlip_autopipe.labelling.protocol import (
    builder_kpoint_count,
    check_protocol,
    get_pw_builder,
    irreducible_kpoint_count,
    kpoint_mesh,
    pool_count,
    protocol_kpoints_distance,
    relative_cost,
    smeared_band_count,
    spin_type_for,
)
from aiida_mlip_autopipe.pseudos import load_cutoff_table

from .conftest import cu3au


@pytest.mark.parametrize('protocol', ['fast', 'balanced', 'stringent'])
def test_builder_from_protocol(pw_code, pseudo_family, protocol, data_regression):
    builder = get_pw_builder(pw_code, orm.StructureData(ase=cu3au()), pseudo_family, protocol=protocol)
    data_regression.check(
        {
            'parameters': builder.pw.parameters.get_dict(),
            'kpoints_distance': builder.kpoints_distance.value,
            'pseudos': {kind: pseudo.filename for kind, pseudo in builder.pw.pseudos.items()},
            'clean_workdir': builder.clean_workdir.value,
        }
    )
    stringency = {'fast': 'low', 'balanced': 'normal', 'stringent': 'high'}[protocol]
    assert builder.pw.parameters['SYSTEM']['ecutwfc'] == load_cutoff_table()['Au'][stringency]['cutoff_wfc']


def test_overrides_spin_and_pools(pw_code, pseudo_family):
    overrides = {'kpoints_distance': 0.4, 'pw': {'parameters': {'SYSTEM': {'ecutwfc': 33, 'ecutrho': 264}}}}
    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 2}}
    nickel = orm.StructureData(ase=bulk('Ni', 'fcc', a=3.42))
    builder = get_pw_builder(pw_code, nickel, pseudo_family, protocol='fast', overrides=overrides, options=options)
    assert builder.kpoints_distance.value == 0.4
    assert builder.pw.parameters['SYSTEM']['ecutwfc'] == 33
    assert builder.pw.parameters['SYSTEM']['nspin'] == 2
    assert builder.pw.parallelization.get_dict() == {'npool': 2}
    assert builder.on_unhandled_failure.value == 'restart_once'  # a crashed or killed pw.x runs once more
    builder = get_pw_builder(pw_code, nickel, pseudo_family, overrides={'spin': 'none'})
    assert 'nspin' not in builder.pw.parameters['SYSTEM']


def test_smeared_runs_get_four_empty_bands_and_one_per_atom(pw_code, pseudo_family):
    """pw.x's 4 empty bands left the highest band occupied in 8-atom Al6Mg2 frames and 4-atom Mg cells."""
    frame = bulk('Al', 'fcc', a=4.05, cubic=True).repeat((2, 1, 1))
    frame.symbols[[0, 5]] = 'Mg'
    frame.rattle(0.05, seed=1)
    builder = get_pw_builder(pw_code, orm.StructureData(ase=frame), pseudo_family, protocol='fast')
    assert builder.pw.parameters['SYSTEM']['nbnd'] == 11 + 4 + 8  # Al6Mg2: 22 valence electrons, 8 atoms
    magnesium = orm.StructureData(ase=bulk('Mg', 'fcc', a=4.5, cubic=True))
    assert get_pw_builder(pw_code, magnesium, pseudo_family).pw.parameters['SYSTEM']['nbnd'] == 4 + 4 + 4
    chosen = {'pw': {'parameters': {'SYSTEM': {'nbnd': 30}}}}
    builder = get_pw_builder(pw_code, orm.StructureData(ase=frame), pseudo_family, overrides=chosen)
    assert builder.pw.parameters['SYSTEM']['nbnd'] == 30
    fixed = {'pw': {'parameters': {'SYSTEM': {'occupations': 'fixed'}}}}
    builder = get_pw_builder(pw_code, orm.StructureData(ase=frame), pseudo_family, overrides=fixed)
    assert 'nbnd' not in builder.pw.parameters['SYSTEM']
    # a gapped system: no empty bands per atom, pw.x's default (16-atom Si: 32 occupied, 38 not 52 bands)
    silicon = orm.StructureData(ase=bulk('Si', 'diamond', a=5.4, cubic=True).repeat((2, 1, 1)))
    gapped = {'empty_bands_per_atom': 0}
    assert get_pw_builder(pw_code, silicon, pseudo_family).pw.parameters['SYSTEM']['nbnd'] == 32 + 4 + 16
    assert get_pw_builder(pw_code, silicon, pseudo_family, overrides=gapped).pw.parameters['SYSTEM']['nbnd'] == 38
    # pw.x's own default (20 % more than the occupied) where it gives more: many electrons, few atoms
    counts = [smeared_band_count(electrons, atoms) for electrons, atoms in ((3, 1), (44, 4), (200, 2))]
    assert counts == [7, 30, 120]


def test_spin_and_protocol_choices():
    assert spin_type_for({'Cu', 'Au'}, 'auto') is SpinType.NONE
    assert spin_type_for({'Cu', 'Fe'}, 'auto') is SpinType.COLLINEAR
    assert spin_type_for({'Cu'}, 'collinear') is SpinType.COLLINEAR
    with pytest.raises(ValueError, match='unknown spin `up`; allowed: auto, none, collinear'):
        spin_type_for({'Cu'}, 'up')
    with pytest.raises(ValueError, match='unknown protocol `moderate`; allowed: fast, balanced, stringent'):
        check_protocol('moderate')


def test_irreducible_kpoints_match_known_counts():
    """Counts pw.x prints for these meshes (fcc: 3 for 2x2x2, 8 for 4x4x4, 10 for 4x4x4 shifted)."""
    fcc = bulk('Al', 'fcc', a=4.05)
    assert [irreducible_kpoint_count(fcc, [n] * 3) for n in (1, 2, 4)] == [1, 3, 8]
    assert irreducible_kpoint_count(fcc, [4, 4, 4], offset=(0.5, 0.5, 0.5)) == 10
    no_symmetry = bulk('Al', 'fcc', a=4.05, cubic=True)[:3]
    no_symmetry.rattle(0.1, seed=3)
    # only time reversal: each point of a 2x2x2 Gamma-centred mesh is its own inverse; 3x3x3 pairs all but Gamma
    assert irreducible_kpoint_count(no_symmetry, [2, 2, 2]) == 8
    assert irreducible_kpoint_count(no_symmetry, [3, 3, 3]) == (27 + 1) // 2
    assert irreducible_kpoint_count(no_symmetry, [2, 2, 2], offset=(0.25, 0.0, 0.0)) == 1  # spglib cannot: lower bound


def test_kpoint_mesh_and_relative_cost():
    """The mesh is aiida-quantumespresso's for the same distance; a cell of lower symmetry or more atoms costs more."""
    from aiida_quantumespresso.calculations.functions.create_kpoints_from_distance import (
        create_kpoints_from_distance,
    )

    strained = bulk('Al', 'fcc', a=4.05, cubic=True)
    strained.set_cell(strained.cell @ [[1.02, 0.01, 0], [0.01, 0.99, 0], [0, 0, 1.0]], scale_atoms=True)
    cells = [bulk('Al', 'fcc', a=4.05), bulk('Al', 'fcc', a=4.05, cubic=True), strained, bulk('Mg'), cu3au()]
    for atoms, distance in itertools.product(cells, (0.15, 0.3, 0.45)):
        mesh, _ = create_kpoints_from_distance.__wrapped__(
            orm.StructureData(ase=atoms), orm.Float(distance), orm.Bool(False)
        ).get_kpoints_mesh()
        assert kpoint_mesh(atoms, distance) == list(mesh), (atoms, distance)
    costs = [relative_cost(atoms, 0.3) for atoms in (bulk('Al', 'fcc', a=4.05, cubic=True), strained)]
    assert costs[1] > costs[0] > relative_cost(bulk('Al', 'fcc', a=4.05), 0.3)
    assert relative_cost(strained, 0.3, relax=True) == 4 * costs[1]
    assert (
        protocol_kpoints_distance('fast') == 0.3 and protocol_kpoints_distance('fast', {'kpoints_distance': 0.5}) == 0.5
    )


def test_pools_are_a_divisor_of_the_processes_and_never_above_the_kpoints():
    assert [pool_count(processes, 8) for processes in (1, 2, 3, 8, 12, 16)] == [1, 2, 3, 8, 6, 8]
    assert pool_count(4, 1) == 1
    assert pool_count(6, 4) == 3
    with pytest.raises(ValueError, match=r'processes \(0\) and k-points \(8\) must be 1 or more'):
        pool_count(0, 8)


@pytest.mark.parametrize(
    ('distance', 'processes', 'pools'),
    [
        (10.0, 4, None),  # Gamma only: 1 k-point, no pools
        (0.75, 2, 2),  # 4x4x4: 8 k-points
        (0.75, 8, 8),
        (0.75, 12, 6),
        (0.75, 16, 8),
    ],
)
def test_builder_pools_follow_the_kpoints(pw_code, pseudo_family, distance, processes, pools):
    aluminium = orm.StructureData(ase=bulk('Al', 'fcc', a=4.05))
    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': processes}}
    builder = get_pw_builder(
        pw_code, aluminium, pseudo_family, protocol='fast', overrides={'kpoints_distance': distance}, options=options
    )
    assert builder_kpoint_count(builder, aluminium) == (1 if distance == 10.0 else 8)
    if pools is None:
        assert 'parallelization' not in builder.pw
    else:
        assert builder.pw.parallelization.get_dict() == {'npool': pools}
    # pools chosen in the overrides are kept
    overrides = {'kpoints_distance': distance, 'pw': {'settings': {'cmdline': ['-nk', '1']}}}
    builder = get_pw_builder(pw_code, aluminium, pseudo_family, overrides=overrides, options=options)
    assert 'parallelization' not in builder.pw
