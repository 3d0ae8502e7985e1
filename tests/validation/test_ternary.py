"""Validation of three elements: the ordered compound of each pair, the equiatomic disordered cell, the table
grouped by the elements a cell holds (EMT on both sides, so every property must agree)."""

from __future__ import annotations

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_mlip_autopipe.labelling.ase_labeller import label_atoms, relax_atoms
from aiida_mlip_autopipe.validation.cells import default_compositions, validation_cells
from aiida_mlip_autopipe.validation.eos import eos_key, reference_cell
from aiida_mlip_autopipe.validation.properties import calculator_properties, centred_series, check_tolerances
from aiida_mlip_autopipe.validation.report import (
    compare_properties,
    format_validation_table,
    labeller_eos,
    labeller_properties,
    property_structures,
    relax_keys,
)

ELEMENTS = ['Cu', 'Ag', 'Au']
PROPERTIES = ('eos', 'elastic', 'vacancy', 'formation')
PAIRS = ['Cu3Ag', 'Cu3Au', 'Ag3Au']


def relaxed_energy_per_atom(atoms) -> float:
    """EMT energy per atom of ``atoms`` with its cell and positions fully relaxed (an independent route)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = atoms.copy()
    atoms.calc = EMT()
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-5, steps=3000)
    return atoms.get_potential_energy() / len(atoms)


def test_cells_of_three_elements():
    assert list(reference_cell(ELEMENTS)) == [*ELEMENTS, *PAIRS]
    assert list(reference_cell(['Cu', 'Au'])) == ['Cu', 'Au', 'Cu3Au']  # a binary: as before
    assert default_compositions(ELEMENTS) == [{element: 1 / 3 for element in ELEMENTS}]
    assert default_compositions(['Cu', 'Au']) == [{'Cu': 0.5, 'Au': 0.5}]
    cells = validation_cells(ELEMENTS, default_compositions(ELEMENTS), seed=0)
    assert list(cells) == [*ELEMENTS, *PAIRS, 'Cu11Ag11Au10_sqs']
    assert cells['Ag3Au'].get_chemical_formula() == 'Ag3Au'


@pytest.fixture(scope='module')
def ternary():
    cells = validation_cells(ELEMENTS, default_compositions(ELEMENTS), seed=0)
    return cells, calculator_properties(cells, EMT(), properties=PROPERTIES)


def test_emt_against_emt_passes_every_cell_and_groups_the_table(ternary):
    cells, emt_rows = ternary
    frames = []
    for name, atoms in cells.items():
        for index, scaled in enumerate(centred_series(atoms, emt_rows[name]['eos']['centre_volume_per_atom'])):
            scaled.info['config_type'] = eos_key(name, index)
            frames.append(scaled)
    rows, missing = labeller_eos(list(cells), label_atoms(frames, 'emt'))
    assert missing == {}
    structures = property_structures(cells, rows, PROPERTIES)
    relax = relax_keys(structures)
    assert 'formation_Cu11Ag11Au10_sqs' in relax and all(f'vacancy_{name}_defect' in relax for name in ELEMENTS)
    labelled, relaxations = [], {}
    for key, atoms in structures.items():
        atoms.info['config_type'] = key
        if key in relax:
            relaxations[key] = relax_atoms(atoms, 'emt')
        labelled.append(atoms)
    frames = label_atoms(labelled, 'emt')
    assert labeller_properties(rows, frames, PROPERTIES, relaxations=relaxations, cells=cells) == {}
    report = compare_properties(emt_rows, rows, check_tolerances({}), PROPERTIES, cells=cells)
    assert report['passed'], report['failed']
    # a vacancy per end member, of its own element; elastic constants of the end members and compounds
    for name in ELEMENTS:
        assert report['cells'][name]['labeller']['vacancy_species'] == name
    for name in [*ELEMENTS, *PAIRS]:
        assert set(report['cells'][name]['passed']) >= {'c11', 'c12', 'c44', 'vacancy_energy'}
    # each compound's formation energy against the three end members, as a full relaxation gives it
    references = {element: relaxed_energy_per_atom(bulk(element, 'fcc', cubic=True)) for element in ELEMENTS}
    for name, (majority, minority) in zip(PAIRS, (('Cu', 'Ag'), ('Cu', 'Au'), ('Ag', 'Au'))):
        expected = relaxed_energy_per_atom(cells[name]) - 0.75 * references[majority] - 0.25 * references[minority]
        assert rows[name]['formation']['formation_energy'] == pytest.approx(expected, abs=2e-4), name
    assert report['cells']['Cu11Ag11Au10_sqs']['kind'] == 'sqs'

    table = format_validation_table(report)
    headings = [line for line in table.splitlines() if line.startswith('== ')]
    assert headings == ['== end members ==', '== Cu-Ag ==', '== Cu-Au ==', '== Ag-Au ==', '== Cu-Ag-Au ==']
    lines = table.splitlines()
    for heading, cell in (('Cu-Ag', 'Cu3Ag'), ('Ag-Au', 'Ag3Au'), ('Cu-Ag-Au', 'Cu11Ag11Au10_sqs')):
        below = lines[lines.index(f'== {heading} ==') + 1]
        assert below.startswith(f'{cell} ('), (heading, below)
    # a binary's table has no headings (as before)
    binary = {name: entry for name, entry in report['cells'].items() if name in ('Cu', 'Au', 'Cu3Au')}
    for entry in binary.values():
        entry['composition'] = {key: value for key, value in entry['composition'].items() if key != 'Ag'}
    assert '==' not in format_validation_table({'cells': binary, 'passed': True})
