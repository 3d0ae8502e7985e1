"""The EMT labeller: the cheap stand-in for DFT."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_mlip_autopipe.labelling.ase_labeller import check_ase_labeller, label_with_ase

from .conftest import cu3au


def test_emt_labels_equal_a_direct_emt_call(aiida_profile):
    rattled = cu3au()
    rattled.rattle(0.05, seed=3)
    training_set, node = run_get_node(
        label_with_ase, calculator=orm.Str('emt'), b=orm.StructureData(ase=rattled), a=orm.StructureData(ase=bulk('Al'))
    )
    frames = training_set.to_atoms()
    assert [atoms.info['config_type'] for atoms in frames] == ['a', 'b']
    assert frames[1].info['source_uuid'] == node.uuid
    rattled.calc = EMT()
    assert frames[1].get_potential_energy() == pytest.approx(rattled.get_potential_energy())
    np.testing.assert_allclose(frames[1].get_forces(), rattled.get_forces())
    np.testing.assert_allclose(frames[1].get_stress(), rattled.get_stress())
    assert abs(frames[1].get_forces()).max() > 0.01


def test_unknown_element_or_labeller_is_refused():
    with pytest.raises(ValueError, match='labeller `emt` cannot label Fe, Ti; it knows Ag, Al, Au'):
        check_ase_labeller('emt', {'Cu', 'Fe', 'Ti'})
    with pytest.raises(ValueError, match='unknown ASE labeller `lj`; allowed: emt'):
        check_ase_labeller('lj', {'Cu'})


def test_ase_labelling_work_chain_refuses_close_atoms(aiida_profile):
    from aiida_mlip_autopipe.labelling.ase_labeller import AseLabellingWorkChain

    crushed = bulk('Cu', 'fcc', a=3.6, cubic=True)
    crushed.positions[1] = crushed.positions[0] + (0.5, 0.0, 0.0)
    results, node = run_get_node(
        AseLabellingWorkChain,
        structures={'ok': orm.StructureData(ase=cu3au()), 'crushed': orm.StructureData(ase=crushed)},
    )
    assert node.is_finished_ok
    assert results['training_set'].count == 1
    assert results['failures']['crushed']['stage'] == 'refused'
    with pytest.raises(ValueError, match='`calculator`: labeller `emt` cannot label Fe'):
        run_get_node(AseLabellingWorkChain, structures={'fe': orm.StructureData(ase=bulk('Fe'))})
