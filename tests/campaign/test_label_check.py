"""The label check: a QE campaign stops before generating anything if its labels are k-point noise."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node

from aiida_mlip_autopipe.campaign.config import campaign_from_dict
from aiida_mlip_autopipe.campaign.workchain import ActiveLearningWorkChain
from aiida_mlip_autopipe.labelling.consistency import cell_disagreement, check_cells, inconsistency_reason
from aiida_mlip_autopipe.setup import CODES, default_executable, ensure_code


def test_disagreement_is_the_largest_difference_of_the_two_cells_at_one_volume():
    energies = {'Al_1atom_m6': -1.0, 'Al_4atom_m6': -1.002, 'Al_1atom_p6': -2.0, 'Al_4atom_p6': -2.0301}
    energies |= {'Mg_2atom_p0': -3.0}  # its partner failed: not compared
    assert cell_disagreement(energies) == {'Al': {'mev_per_atom': 30.1, 'strain': 0.06}}
    assert inconsistency_reason(cell_disagreement(energies), energy_target=100.0, kpoints_distance=0.45) is None
    reason = inconsistency_reason(cell_disagreement(energies), energy_target=10.0, kpoints_distance=0.45)
    assert 'Al 30.1 meV/atom at volume strain +6%' in reason and '`dft.overrides.kpoints_distance`' in reason


def test_check_cells_are_one_crystal_in_two_cells():
    cells = check_cells('Mg')
    assert sorted(cells) == [f'Mg_{n}atom_{s}' for n in (2, 4) for s in ('m6', 'p0', 'p6')]
    for strain in ('m6', 'p0', 'p6'):
        small, large = cells[f'Mg_2atom_{strain}'], cells[f'Mg_4atom_{strain}']
        assert small.get_volume() / 2 == pytest.approx(large.get_volume() / 4)
    with pytest.raises(ValueError, match='no reference crystal'):
        check_cells('Xx')


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_noisy_labels_stop_the_campaign_before_generation(localhost, pw_code, python_code, pseudo_family):
    """Al at the demo files' old 0.45 1/A: its 1- and 4-atom cells disagree by tens of meV/atom (docs/cutoffs.rst).

    The campaign checks every code before it starts, the `python` one of its task jobs included."""
    codes = {
        label: ensure_code(label, localhost, CODES[label][0], default_executable(label)).full_label
        for label in ('pacemaker', 'lmp')
    }
    campaign = {
        'name': 'label-check-test',
        'elements': ['Al'],
        'labeller': 'qe',
        'protocol': 'fast',
        'targets': {'energy_rmse_mev_atom': 10.0},
        'dft': {'overrides': {'kpoints_distance': 0.45}},
        'codes': {'pw': pw_code.full_label, **codes},
    }
    config = campaign_from_dict(campaign).model_dump(mode='json')
    _, node = run_get_node(ActiveLearningWorkChain, campaign=orm.Dict(config))
    assert node.exit_status == ActiveLearningWorkChain.exit_codes.ERROR_INCONSISTENT_LABELS.status
    assert '`dft.overrides.kpoints_distance` (now 0.45' in node.exit_message
    assert node.base.extras.get('label_disagreement')['Al']['mev_per_atom'] > 5.0
    calls = node.base.links.get_outgoing(link_type=(LinkType.CALL_CALC, LinkType.CALL_WORK)).all()
    assert [link.link_label for link in calls] == ['label_check']  # nothing generated, nothing else labelled
    label_check = calls[0].node
    assert label_check.is_finished_ok and label_check.outputs.training_set.count == 6
