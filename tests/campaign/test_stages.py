"""How the campaign calls the stages for three or more elements (the binary calls are those of test_campaign_emt)."""

from __future__ import annotations

from aiida_mlip_autopipe.campaign import stages
from aiida_mlip_autopipe.campaign.config import campaign_from_dict

TERNARY = {'name': 'cuagau', 'elements': ['Cu', 'Ag', 'Au'], 'labeller': 'emt'}


def test_generation_of_a_ternary_covers_every_composition_point(aiida_profile):
    from aiida_mlip_autopipe.generation.plan import generate_all
    from aiida_mlip_autopipe.generation.spec import validate_spec

    balanced = stages.generation_builder(campaign_from_dict(TERNARY)).spec.get_dict()
    assert balanced['sqs_rounding'] is True and balanced['counts']['sqs'] == 7  # one per alloy point
    assert len(balanced['compositions']) == 10 and 'composition_range' not in balanced
    config = campaign_from_dict(
        TERNARY
        | {
            'protocol': 'fast',
            'composition_grid': {'density': 1},
            'generation': {'sqs_sizes': [12], 'max_atoms': 12, 'counts': {'sqs': 4, 'ordered': 6, 'antisite': 3}},
        }
    )
    spec = stages.generation_builder(config).spec.get_dict()
    assert spec['counts']['sqs'] == 4  # the campaign file's count wins
    structures, summary = generate_all(validate_spec(spec))
    sqs = sorted(structures[key].get_chemical_formula() for key in structures if key.startswith('sqs_'))
    assert sqs == ['Ag4Au4Cu4', 'Ag6Au6', 'Ag6Cu6', 'Au6Cu6']  # the centre and the three pairs, 12 atoms each
    ordered = {frozenset(structures[key].get_chemical_symbols()) for key in structures if key.startswith('ordered_')}
    assert len(ordered) >= 2  # spread over the pairs and the triple
    assert summary['counts']['antisite'] == 3
    # a binary is called as before: its range
    binary = stages.generation_builder(campaign_from_dict({'name': 'cuau', 'elements': ['Cu', 'Au']})).spec.get_dict()
    assert binary['composition_range'] == {'element': 'Au', 'start': 0.0, 'stop': 1.0, 'num': 3}
    assert binary['sqs_rounding'] is False and 'compositions' not in binary


def test_validation_of_a_ternary_takes_the_equiatomic_disordered_cell():
    ternary = campaign_from_dict(TERNARY)
    assert stages.validation_compositions(ternary) == [{'Cu': 0.3333333333, 'Ag': 0.3333333333, 'Au': 0.3333333333}]
    binary = campaign_from_dict({'name': 'cuau', 'elements': ['Cu', 'Au'], 'composition': {'points': 5}})
    assert stages.validation_compositions(binary) == binary.compositions()


def test_fit_of_three_or_more_elements_has_functions_in_every_block(localhost):
    """pacemaker gives each block (element, set of neighbour elements: 2^(n-1) per element) the same share;
    the campaign raises the functions per element so that every block keeps at least two, as far as the
    training set has atoms of each element for the active set."""
    from ase.build import bulk
    from pyace import ACEBBasisSet
    from pyace.multispecies_basisextension import create_multispecies_basis_config

    from aiida_mlip_autopipe.data import TrainingSet
    from aiida_mlip_autopipe.labelling.ase_labeller import label_atoms
    from aiida_mlip_autopipe.setup import CODES, default_executable, ensure_code
    from aiida_mlip_autopipe.training.pacemaker_io import PacemakerParameters, pacemaker_input

    code = ensure_code('pacemaker', localhost, CODES['pacemaker'][0], default_executable('pacemaker'))
    # 216 atoms of each of six elements, and a set with 29 Pt atoms only
    six = ['Cu', 'Ag', 'Au', 'Ni', 'Pd', 'Pt']
    cells = [bulk(symbol, 'fcc', cubic=True).repeat(3) for symbol in six * 2]
    plenty = TrainingSet(frames=label_atoms(cells, 'emt'))
    few_pt = TrainingSet(frames=label_atoms([*cells[:5], bulk('Pt', 'fcc', cubic=True).repeat((3, 3, 1))[:29]], 'emt'))

    def functions(elements, training_set=plenty, **changes):
        codes = {'codes': {'pacemaker': code.full_label}}
        config = campaign_from_dict({'name': 'x', 'elements': elements, 'protocol': 'fast', **codes, **changes})
        builder = stages.training_builder(config, training_set)
        return builder.pacemaker.parameters['number_of_functions_per_element']

    five = six[:5]
    assert functions(['Cu', 'Au']) == 16  # a binary keeps its protocol's size
    assert functions(['Cu', 'Ag', 'Au']) == 16  # 4 blocks per element: 4 functions each
    assert functions(six[:4]) == 16  # 8 blocks: 2 each
    assert functions(five) == 32  # 16 blocks: 16 would leave one each
    assert functions(six) == 64  # 32 blocks: 16 would leave none
    assert functions(five, fit={'protocol': 'balanced'}) == 100
    overridden = {
        'fit': {'protocol': 'fast', 'overrides': {'pacemaker': {'parameters': {'number_of_functions_per_element': 8}}}}
    }
    assert functions(six, **overridden) == 8  # the campaign file's value wins
    assert functions(six, few_pt) == 29  # no more than the active set can take: 29 Pt atoms

    def per_block(count):
        potential = pacemaker_input(PacemakerParameters(number_of_functions_per_element=count), five)['potential']
        basis = create_multispecies_basis_config(potential)
        ACEBBasisSet(basis)  # pyace can evaluate it
        return sorted({len(block.funcspecs) for block in basis.funcspecs_blocks})

    assert per_block(16) == [1]  # the protocol's 16 would leave one function per block
    assert per_block(functions(five)) == [2]


def test_final_refit_from_scratch_runs_the_full_iteration_count_and_its_own_basis(localhost):
    """The loop's fits continue the previous potential; the final one starts from scratch and needs more."""
    from ase.build import bulk

    from aiida_mlip_autopipe.data import TrainingSet
    from aiida_mlip_autopipe.labelling.ase_labeller import label_atoms
    from aiida_mlip_autopipe.setup import CODES, default_executable, ensure_code

    code = ensure_code('pacemaker', localhost, CODES['pacemaker'][0], default_executable('pacemaker'))
    training_set = TrainingSet(frames=label_atoms([bulk('Cu', 'fcc', a=3.6), bulk('Au', 'fcc', a=4.1)], 'emt'))

    def maxiter(final, **fit):
        config = campaign_from_dict(
            {'name': 'x', 'elements': ['Cu', 'Au'], 'codes': {'pacemaker': code.full_label}, 'fit': fit}
        )
        return stages.training_builder(config, training_set, final=final).pacemaker.parameters['maxiter']

    loop = {'protocol': 'balanced', 'overrides': {'pacemaker': {'parameters': {'maxiter': 300}}}}
    assert maxiter(False, **loop) == 300
    assert maxiter(True, **loop) == 500  # the balanced protocol's count, not the loop's shorter one
    assert maxiter(True, protocol='balanced', overrides={'pacemaker': {'parameters': {'maxiter': 800}}}) == 800
    assert maxiter(True, **loop, final_maxiter=1500) == 1500

    def functions(final, **fit):
        config = campaign_from_dict(
            {'name': 'x', 'elements': ['Cu', 'Au'], 'codes': {'pacemaker': code.full_label}, 'fit': fit}
        )
        return stages.training_builder(config, training_set, final=final).pacemaker.parameters[
            'number_of_functions_per_element'
        ]

    basis = {'number_of_functions_per_element': 24}
    small = {'protocol': 'balanced', 'overrides': {'pacemaker': {'parameters': basis}}}
    assert functions(False, **small, final_functions_per_element=60) == 24  # the loop keeps its basis
    assert functions(True, **small, final_functions_per_element=60) == 60
    assert functions(True, **small) == 24


def test_a_portable_code_is_taken_without_a_computer(aiida_profile, tmp_path):
    """A portable code has no computer: the executable check of local installed codes leaves it alone."""
    from aiida import orm

    (tmp_path / 'pacemaker').write_text('#!/bin/sh\n')
    code = orm.PortableCode(
        label='pacemaker-portable-test',
        filepath_files=tmp_path,
        filepath_executable='pacemaker',
        default_calc_job_plugin='mlip_autopipe.pacemaker',
    ).store()
    assert stages._code('pacemaker-portable-test', 'pacemaker').uuid == code.uuid
