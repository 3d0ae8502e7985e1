"""Inputs of the pw.x runs built from a protocol (serialised and compared)."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida_quantumespresso.common.types import SpinType
from ase.build import bulk

from aiida_mlip_autopipe.labelling.protocol import (
    builder_kpoint_count,
    check_protocol,
    get_pw_builder,
    irreducible_kpoint_count,
    pool_count,
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
