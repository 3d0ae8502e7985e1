"""The EMT labeller: the cheap stand-in for DFT."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.geometry import get_distances

from aiida_mlip_autopipe.labelling.ase_labeller import check_ase_labeller, label_with_ase

from .conftest import cu3au


def test_emt_labels_equal_a_direct_emt_call(aiida_profile):
    rattled = cu3au()
    rattled.rattle(0.05, seed=3)
    outputs, node = run_get_node(
        label_with_ase, calculator=orm.Str('emt'), b=orm.StructureData(ase=rattled), a=orm.StructureData(ase=bulk('Al'))
    )
    assert set(outputs) == {'training_set'}
    frames = outputs['training_set'].to_atoms()
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


def cu_vacancy():
    """32-site EMT Cu cube with one atom removed: its neighbours relax into the vacancy."""
    atoms = bulk('Cu', 'fcc', a=3.59, cubic=True).repeat(2)
    del atoms[0]
    return atoms


def test_relaxed_label_is_the_relaxed_structure(aiida_profile):
    from ase.optimize import BFGS

    from aiida_mlip_autopipe.labelling.ase_labeller import RELAX_FMAX, AseLabellingWorkChain

    results, node = run_get_node(
        AseLabellingWorkChain,
        structures={'fixed': orm.StructureData(ase=cu_vacancy()), 'relaxed': orm.StructureData(ase=cu_vacancy())},
        relax=orm.List(['relaxed']),
    )
    assert node.is_finished_ok
    fixed, relaxed = results['training_set'].to_atoms()
    assert relaxed.info['config_type'] == 'relaxed'
    record = results['relaxations']['relaxed']
    assert list(results['relaxations'].keys()) == ['relaxed']
    assert record['converged'] and record['steps'] > 1
    # the label holds the relaxed positions and their forces, all below the criterion
    assert np.linalg.norm(relaxed.get_forces(), axis=1).max() < RELAX_FMAX == record['fmax']
    assert np.linalg.norm(fixed.get_forces(), axis=1).max() > 0.05
    assert record['energy_change'] == pytest.approx(relaxed.get_potential_energy() - fixed.get_potential_energy())
    assert -0.1 < record['energy_change'] < -0.005
    # the twelve first neighbours of the vacancy (at the origin) move towards it
    before, after = (
        get_distances(atoms.positions, [0, 0, 0], cell=atoms.cell, pbc=True)[1][:, 0] for atoms in (fixed, relaxed)
    )
    neighbours = before < 2.6
    assert neighbours.sum() == 12
    assert np.all(after[neighbours] < before[neighbours] - 0.005)
    # an independent, tighter relaxation by hand reaches the same energy
    reference = cu_vacancy()
    reference.calc = EMT()
    BFGS(reference, logfile=None).run(fmax=1e-4, steps=1000)
    assert relaxed.get_potential_energy() == pytest.approx(reference.get_potential_energy(), abs=1e-3)


def test_relax_of_an_unknown_key_is_refused(aiida_profile):
    from aiida_mlip_autopipe.labelling.ase_labeller import AseLabellingWorkChain

    with pytest.raises(ValueError, match='`relax`: no structure named other; give keys of `structures`'):
        run_get_node(
            AseLabellingWorkChain, structures={'cu': orm.StructureData(ase=bulk('Cu'))}, relax=orm.List(['other'])
        )
