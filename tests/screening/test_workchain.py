"""``SurrogateScreeningWorkChain`` with the real CHGNet model on tiny Cu-Au cells."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlip_autopipe.screening.functions import select_candidates
from aiida_mlip_autopipe.screening.workchain import SurrogateScreeningWorkChain


def candidates() -> dict[str, orm.StructureData]:
    """Seven candidates: a planted overlap, a planted duplicate (primitive cell of ``cu_cubic``), five distinct."""
    cu = bulk('Cu', 'fcc', a=3.6, cubic=True)
    frames = {'cu_cubic': cu, 'cu_prim': bulk('Cu', 'fcc', a=3.6)}
    overlap = cu.copy()
    overlap.positions[1] = overlap.positions[0] + [0.4, 0.3, 0.0]
    frames['cu_overlap'] = overlap
    rattled = cu.copy()
    rattled.rattle(0.1, seed=1)
    frames['cu_rattled'] = rattled
    strained = cu.copy()
    strained.set_cell(cu.cell * 1.03, scale_atoms=True)
    frames['cu_strained'] = strained
    cu3au = bulk('Cu', 'fcc', a=3.75, cubic=True)
    cu3au.symbols[0] = 'Au'
    frames['cu3au'] = cu3au
    frames['au'] = bulk('Au', 'fcc', a=4.08)
    return {key: orm.StructureData(ase=atoms) for key, atoms in frames.items()}


@pytest.fixture(scope='module')
def screening(surrogate_code):
    """One screening of the seven candidates, three to select."""
    structures = candidates()
    results, node = run_get_node(
        SurrogateScreeningWorkChain, structures=structures, code=surrogate_code, num_select=orm.Int(3), seed=orm.Int(0)
    )
    assert node.is_finished_ok, node.exit_message
    return structures, results, node


def reselect(results, **kwargs):
    """Run ``select_candidates`` again on the surrogate results of the screening, with other settings."""
    calculation = results['surrogate_labels'].creator
    inputs = {
        'labels': calculation.outputs.labels,
        'descriptors': calculation.outputs.descriptors,
        'surrogate_parameters': calculation.outputs.output_parameters,
        'max_force': orm.Float(20.0),
        'min_distance': orm.Float(1.5),
        'energy_window': orm.Float(1.0),
        'duplicate_tolerance': orm.Float(1e-3),
        'seed': orm.Int(0),
    }
    inputs.update(kwargs)
    return select_candidates(**inputs)


def test_planted_overlap_is_rejected_with_its_reason(screening):
    _, results, _ = screening
    assert 'cu_overlap' not in results['selected']
    assert results['rejected']['cu_overlap'] == 'atoms 0.500 A apart, closer than the minimum distance 1.500 A'


def test_planted_duplicate_is_never_selected_twice(screening):
    _, results, _ = screening
    assert results['rejected']['cu_prim'].startswith('duplicate of `cu_cubic`')
    everything = reselect(results, num_select=orm.Int(7))
    selected = everything['selection']['selected']
    assert 'cu_cubic' in selected
    assert 'cu_prim' not in selected
    assert sorted(selected) == ['au', 'cu3au', 'cu_cubic', 'cu_rattled', 'cu_strained']


def test_selection_is_deterministic_with_a_seed(screening):
    _, results, _ = screening
    first = results['selection']['selected']
    assert len(first) == 3
    assert reselect(results, num_select=orm.Int(3))['selection']['selected'] == first
    # farthest-point sampling is greedy: two picks are the first two of three
    assert reselect(results, num_select=orm.Int(2))['selection']['selected'] == first[:2]
    assert set(results['rejected'].keys()) | set(first) == set(candidates())


def test_outputs_are_ready_for_labelling(screening):
    from aiida_mlip_autopipe.labelling.workchain import DftLabellingWorkChain

    structures, results, node = screening
    selected = dict(results['selected'])
    assert sorted(selected) == sorted(results['selection']['selected'])
    for key, structure in selected.items():
        assert structure.uuid == structures[key].uuid  # no relaxation: the candidates themselves
    assert DftLabellingWorkChain.spec().inputs['structures'].validate(selected) is None
    rejected = results['rejected']
    assert rejected.creator.process_label == 'select_candidates'
    assert rejected.creator.inputs.labels.creator.process_label == 'SurrogateCalculation'
    report = '\n'.join(log.message for log in orm.Log.collection.get_logs_for(node))
    assert 'dropped `cu_overlap`: atoms 0.500 A apart' in report


def test_surrogate_labels_hold_real_chgnet_values(screening):
    _, results, _ = screening
    labels = results['surrogate_labels']
    assert labels.count == 7
    frames = {atoms.info['config_type']: atoms for atoms in labels.iter_atoms()}
    # CHGNet 0.3.0: fcc Cu at 3.6 A about -4.08 eV/atom, fcc Au about -3.2 eV/atom; no forces by symmetry
    assert frames['cu_cubic'].get_potential_energy() / 4 == pytest.approx(-4.08, abs=0.05)
    assert frames['au'].get_potential_energy() == pytest.approx(-3.2, abs=0.3)
    assert np.abs(frames['cu_cubic'].get_forces()).max() < 1e-3
    assert np.abs(frames['cu_rattled'].get_forces()).max() > 0.3
    metrics = results['selection']['metrics']
    assert metrics['cu_rattled']['energy_per_atom'] > metrics['cu_cubic']['energy_per_atom'] + 0.05


def test_tight_thresholds_drop_hot_and_high_candidates(screening):
    _, results, _ = screening
    metrics = results['selection']['metrics']
    force = metrics['cu_rattled']['max_force']
    tight = reselect(results, max_force=orm.Float(force - 0.01), energy_window=orm.Float(0.02))
    rejected = tight['rejected']
    assert rejected['cu_rattled'].startswith(f'maximum surrogate force {force:.3f} eV/A')
    assert 'eV/atom above the lowest Cu candidate' in rejected['cu_strained']
    assert 'cu_strained' not in tight['selection']['selected']


def test_relaxation_outputs_relaxed_structures(surrogate_code):
    structures = candidates()
    structures = {key: structures[key] for key in ('cu_rattled', 'cu3au')}
    results, node = run_get_node(
        SurrogateScreeningWorkChain,
        structures=structures,
        code=surrogate_code,
        relax=orm.Bool(True),
        relax_steps=orm.Int(5),
    )
    assert node.is_finished_ok, node.exit_message
    relaxed = results['selected']['cu_rattled']
    assert relaxed.uuid != structures['cu_rattled'].uuid
    moved = relaxed.get_ase().positions - structures['cu_rattled'].get_ase().positions
    assert np.abs(moved).max() > 1e-3
    calculation = results['surrogate_labels'].creator
    initial = {atoms.info['config_type']: atoms for atoms in calculation.outputs.labels.iter_atoms()}
    final = {atoms.info['config_type']: atoms for atoms in results['surrogate_labels'].iter_atoms()}
    assert final['cu_rattled'].get_potential_energy() < initial['cu_rattled'].get_potential_energy() - 0.1


def test_a_model_that_cannot_load_fails_the_screening(surrogate_code, tmp_path):
    path = tmp_path / 'broken.pth.tar'
    path.write_text('not a checkpoint\n')
    structures = {'cu_cubic': candidates()['cu_cubic']}
    _, node = run_get_node(
        SurrogateScreeningWorkChain,
        structures=structures,
        code=surrogate_code,
        model_file=orm.SinglefileData(str(path)),
    )
    assert node.exit_status == 400
    (calculation,) = node.called
    assert calculation.exit_status == 310
    assert 'UnpicklingError' in calculation.exit_message


@pytest.mark.parametrize(
    ('field', 'value', 'message'),
    [
        ('num_select', 0, '`num_select`: 0 is not allowed'),
        ('min_distance', -1.0, '`min_distance`: -1.0 is not allowed'),
        ('relax_fmax', 0.0, '`relax_fmax`: 0.0 is not allowed'),
    ],
)
def test_bad_inputs_are_refused_before_anything_runs(surrogate_code, field, value, message):
    with pytest.raises(ValueError, match=message):
        node = orm.Int(value) if isinstance(value, int) else orm.Float(value)
        run_get_node(SurrogateScreeningWorkChain, structures=candidates(), code=surrogate_code, **{field: node})


def test_a_code_of_another_plugin_is_refused(pw_code):
    with pytest.raises(ValueError, match=r'runs `quantumespresso\.pw`, not `mlip_autopipe\.surrogate`'):
        run_get_node(SurrogateScreeningWorkChain, structures=candidates(), code=pw_code)
