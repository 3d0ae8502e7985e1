"""``SurrogateParser`` on captured output of the real surrogate script (tests/screening/fixtures/surrogate/<case>)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from ase import Atoms

from aiida_mlip_autopipe.screening.parsers import SurrogateParser

FIXTURES = Path(__file__).parent / 'fixtures' / 'surrogate'
RETRIEVED = ('results.json', 'surrogate.out', '_scheduler-stderr.txt')


def parse_case(case: str, computer: orm.Computer):
    """Build a finished ``SurrogateCalculation`` node holding the captured files of ``case`` and parse it."""
    folder = FIXTURES / case
    node = orm.CalcJobNode(computer=computer, process_type='aiida.calculations:mlip_autopipe.surrogate')
    node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
    node.set_option('scheduler_stderr', '_scheduler-stderr.txt')
    node.set_option('output_filename', 'surrogate.out')
    for item in json.loads((folder / 'structures.json').read_text()):
        atoms = Atoms(numbers=item['numbers'], positions=item['positions'], cell=item['cell'], pbc=item['pbc'])
        structure = orm.StructureData(ase=atoms).store()
        node.base.links.add_incoming(structure, LinkType.INPUT_CALC, f'structures__{item["key"]}')
    node.store()
    retrieved = orm.FolderData()
    for name in RETRIEVED:
        if (folder / name).exists():
            retrieved.base.repository.put_object_from_file(str(folder / name), name)
    retrieved.base.links.add_incoming(node, LinkType.CREATE, 'retrieved')
    retrieved.store()
    return SurrogateParser.parse_from_node(node, store_provenance=False)


def test_default_case(localhost):
    results, calcfunction = parse_case('default', localhost)
    assert calcfunction.exit_status == 0
    labels = results['labels']
    assert labels.count == 3
    frames = {atoms.info['config_type']: atoms for atoms in labels.iter_atoms()}
    assert sorted(frames) == ['cu', 'cu3au', 'cu_rattled']
    # CHGNet 0.3.0: fcc Cu at 3.6 A about -4.08 eV/atom, no force by symmetry; the rattled cell is higher
    assert frames['cu'].get_potential_energy() / 4 == pytest.approx(-4.082, abs=0.01)
    assert np.abs(frames['cu'].get_forces()).max() < 1e-3
    assert np.abs(frames['cu_rattled'].get_forces()).max() > 0.1
    assert frames['cu_rattled'].get_potential_energy() > frames['cu'].get_potential_energy()
    assert frames['cu'].get_stress().shape == (6,)
    assert frames['cu'].info['source_uuid'] == 'surrogate:chgnet-0.3.0'
    descriptors = results['descriptors']
    assert sorted(descriptors.get_arraynames()) == ['cu', 'cu3au', 'cu_rattled']
    assert descriptors.get_array('cu').shape == (64,)
    summary = results['output_parameters'].get_dict()
    assert summary['model_version'] == '0.3.0'
    assert summary['evaluated'] == 3
    assert summary['failed'] == {}
    assert summary['cpu_seconds_per_structure'] > 0
    assert 'relaxed_labels' not in results


def test_relax_case(localhost):
    results, calcfunction = parse_case('relax', localhost)
    assert calcfunction.exit_status == 0
    initial = {atoms.info['config_type']: atoms for atoms in results['labels'].iter_atoms()}
    final = {atoms.info['config_type']: atoms for atoms in results['relaxed_labels'].iter_atoms()}
    assert final['cu_rattled'].get_potential_energy() < initial['cu_rattled'].get_potential_energy()
    moved = results['relaxed_structures']['cu_rattled'].get_ase().positions - initial['cu_rattled'].positions
    assert np.abs(moved).max() > 1e-3
    steps = results['output_parameters']['structures']['cu_rattled']['steps']
    assert 1 <= steps <= 3


def test_partial_failure_is_recorded(localhost):
    results, calcfunction = parse_case('partial_failure', localhost)
    assert calcfunction.exit_status == 0
    assert results['labels'].count == 1
    assert 'shapes cannot be multiplied' in results['output_parameters']['failed']['am']


@pytest.mark.parametrize(
    ('case', 'status', 'fragment'),
    [
        ('model_error', 310, 'UnpicklingError'),
        ('missing_results', 300, 'Killed'),
        ('corrupt', 301, 'JSONDecodeError'),
    ],
)
def test_failures_become_exit_codes(localhost, case, status, fragment):
    results, calcfunction = parse_case(case, localhost)
    assert calcfunction.exit_status == status
    assert fragment in calcfunction.exit_message
    assert 'labels' not in results
