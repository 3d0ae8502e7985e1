"""Label a handful of Cu-Au and Al structures with pw.x and print the training set's summary.

Run with ``verdi run examples/label_structures.py`` (this is what ``make demo`` does). The work
chain runs in the foreground; afterwards ``verdi process list -a`` shows it and
``verdi process report <pk>`` tells what happened to each structure.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlip_autopipe.labelling.workchain import DftLabellingWorkChain


def demo_structures() -> dict:
    """Five small cells: pure metals, an ordered alloy, strained and rattled variants."""
    cu3au = bulk('Cu', 'fcc', a=3.70, cubic=True)
    cu3au.symbols[0] = 'Au'
    cuau_rattled = bulk('Cu', 'fcc', a=3.80, cubic=True)
    cuau_rattled.symbols[[0, 1]] = 'Au'
    cuau_rattled.rattle(0.05, seed=1)
    al_rattled = bulk('Al', 'fcc', a=3.99, cubic=True)
    al_rattled.rattle(0.05, seed=2)
    cu_strained = bulk('Cu', 'fcc', a=3.52 * 1.03)
    return {
        'cu': bulk('Cu', 'fcc', a=3.52),
        'cu_strained': cu_strained,
        'cu3au': cu3au,
        'cuau_rattled': cuau_rattled,
        'al_rattled': al_rattled,
    }


def main():
    structures = {key: orm.StructureData(ase=atoms) for key, atoms in demo_structures().items()}
    results, node = run_get_node(
        DftLabellingWorkChain,
        structures=structures,
        code=orm.load_code('pw@localhost'),
        protocol=orm.Str('fast'),
        max_concurrent=orm.Int(2),
    )
    training_set = results['training_set']
    print(f'\n{node.process_label}<{node.pk}> finished with exit status {node.exit_status}')
    print(
        f'TrainingSet<{training_set.pk}>: {training_set.count} configurations, {training_set.atom_count} atoms, '
        f'elements {", ".join(training_set.elements)}, sha256 {training_set.sha256[:12]}'
    )
    print(f'{"config":14s} {"atoms":>5s} {"energy/atom (eV)":>17s} {"max |F| (eV/A)":>15s}  calculation')
    for atoms in training_set.iter_atoms():
        max_force = (atoms.get_forces() ** 2).sum(axis=1).max() ** 0.5
        print(
            f'{atoms.info["config_type"]:14s} {len(atoms):5d} {atoms.get_potential_energy() / len(atoms):17.4f} '
            f'{max_force:15.4f}  {orm.load_node(atoms.info["source_uuid"]).pk}'
        )
    for key, failure in results['failures'].get_dict().items():
        print(f'{key}: {failure["stage"]} failure: {failure["message"]}')
    print(f'\nNext: verdi process report {node.pk}')


if __name__ == '__main__':
    main()
