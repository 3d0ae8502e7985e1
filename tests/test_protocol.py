"""Inputs of the pw.x runs built from a protocol (serialised and compared)."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida_quantumespresso.common.types import SpinType
from ase.build import bulk

from aiida_mlip_autopipe.labelling.protocol import check_protocol, get_pw_builder, spin_type_for
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
    assert builder.pw.settings.get_dict() == {'cmdline': ['-nk', '2']}
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
