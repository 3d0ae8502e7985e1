"""Calcfunctions of the validation: the cells, the labeller's structures, the MD cells, the collected MD runs and
the report, so the graph shows what each number came from.

The potential's properties and the MD in ASE take minutes: they are tasks (:mod:`.tasks`) run by
``PythonTaskCalculation`` jobs, not calcfunctions, so the daemon worker stays free while they run.
Every calcfunction takes the settings Dict (``parameters``) and, where it needs them, the validation
cells as keyword inputs named by cell (the outputs of :func:`generate_validation_cells`).
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction
from ase import Atoms

from .cells import validation_cells
from .eos import compare_eos_frames, eos_key, reference_cell, strained_series
from .properties import centred_series
from .report import compare_properties, labeller_eos, labeller_properties, property_structures
from .stability import (  # noqa: F401 (the MD plan's names, as before they moved)
    GAMMA_EVERY,
    MD_ATOMS_ASE,
    MD_ATOMS_LAMMPS,
    MD_MIN_RUNS,
    MD_TEMPERATURE_FACTORS,
    lammps_md_parameters,
    md_cell,
    md_plan,
    md_repeats,
    md_steps,
)


def _settings(parameters: orm.Dict) -> dict:
    return parameters.get_dict()


def _atoms(cells: dict) -> dict[str, Atoms]:
    """Return the validation cells (StructureData keyword inputs) as ASE atoms, in the settings' order."""
    return {name: structure.get_ase() for name, structure in cells.items()}


def _ordered(settings: dict, cells: dict) -> dict[str, Atoms]:
    atoms = _atoms(cells)
    return {name: atoms[name] for name in settings['cells'] if name in atoms}


@calcfunction
def generate_validation_cells(parameters: orm.Dict) -> dict:
    """Return the validation cells (end members, ordered compound, a special quasi-random cell per
    composition; see :mod:`.cells`), keyed by cell name."""
    settings = _settings(parameters)
    cells = validation_cells(
        settings['elements'], settings['compositions'], settings['seed'], settings['sqs_supercell']
    )
    return {name: orm.StructureData(ase=atoms) for name, atoms in cells.items()}


@calcfunction
def generate_eos_structures(elements: orm.List) -> dict:
    """Return the strained structures of every validation cell, keyed ``eos_<cell>_<i>``."""
    structures = {}
    for name, atoms in reference_cell(list(elements.get_list())).items():
        for index, scaled in enumerate(strained_series(atoms)):
            structures[eos_key(name, index)] = orm.StructureData(ase=scaled)
    return structures


@calcfunction
def compare_equations_of_state(potential, labels) -> orm.Dict:
    """Compare the EOS of ``potential`` (AcePotential) with the labeller's ``labels`` (TrainingSet)."""
    return orm.Dict(compare_eos_frames(labels.to_atoms(), potential.get_calculator(active_set=False)))


@calcfunction
def report_unusable_potential(potential, reason: orm.Str) -> orm.Dict:
    """Return the validation report of a potential whose properties cannot be computed (e.g. an equation
    of state without a minimum): every property fails, with the reason."""
    return orm.Dict({'cells': {}, 'failed': [f'potential: {reason.value}'], 'passed': False, 'unusable': reason.value})


@calcfunction
def generate_centred_eos_structures(potential_properties: orm.Dict, parameters: orm.Dict, **cells) -> dict:
    """Return the EOS series of every validation cell centred on the potential's equilibrium, keyed
    ``eos_<cell>_<i>``: the structures both sides' EOS are fitted on."""
    rows = potential_properties.get_dict()
    return {
        eos_key(name, index): orm.StructureData(ase=scaled)
        for name, atoms in _ordered(_settings(parameters), cells).items()
        for index, scaled in enumerate(centred_series(atoms, rows[name]['eos']['centre_volume_per_atom']))
    }


@calcfunction
def generate_property_structures(eos_labels, parameters: orm.Dict, **cells) -> dict:
    """Return the elastic, vacancy, formation and phonon structures at the labeller's equilibrium (from its
    EOS labels); the labeller relaxes the vacancy defects and the disordered cells itself."""
    settings = _settings(parameters)
    rows, _ = labeller_eos(settings['cells'], eos_labels.to_atoms())
    structures = property_structures(
        _ordered(settings, cells),
        rows,
        settings['properties'],
        strains=settings['strains'],
        supercell=settings['supercell'],
        phonon_supercell=settings['phonon_supercell'],
    )
    return {key: orm.StructureData(ase=atoms) for key, atoms in structures.items()}


# -- MD stability ------------------------------------------------------------------------------------


@calcfunction
def generate_md_structures(potential_properties: orm.Dict, parameters: orm.Dict, **cells) -> dict:
    """Return the MD cells (see :func:`md_cell`, at least ``md_atoms`` atoms), keyed by cell name."""
    settings = _settings(parameters)
    rows = potential_properties.get_dict()
    return {
        name: orm.StructureData(ase=md_cell(name, atoms, rows[name]['eos']['volume_per_atom'], settings['md_atoms']))
        for name, atoms in _ordered(settings, cells).items()
    }


@calcfunction
def collect_lammps_md_runs(parameters: orm.Dict, **inputs) -> orm.Dict:
    """Return ``{'runs': [...]}`` from the MD reports keyed ``run_<i>`` (see :func:`md_plan`) and the MD cells
    keyed ``cell_<name>``.

    A report with ``failed`` (the calculation ended with an error, such as non-finite energies, or the
    job of the MD in ASE failed) counts as a halted run.
    """
    settings = _settings(parameters)
    runs = []
    for run in md_plan(settings):
        report = inputs[f'run_{run["index"]}'].get_dict()
        steps_done = int(report.get('steps_done') or 0)
        swaps = dict(run['swaps']) if run['swaps'] else None
        if swaps and report.get('swaps_attempted') is not None:
            swaps.update(attempted=report['swaps_attempted'], accepted=report.get('swaps_accepted'))
        runs.append(
            {
                'cell': run['cell'],
                'temperature': run['temperature'],
                'seed': run['seed'],
                'steps': md_steps(settings),
                'steps_run': steps_done,
                'time_ps': steps_done * settings['md_timestep_fs'] / 1000,
                'timestep_fs': float(settings['md_timestep_fs']),
                'max_gamma': report.get('max_gamma'),
                'halted': bool(report.get('halted') or report.get('failed')),
                'reason': str(report.get('failed') or report.get('halt_reason') or ''),
                'atoms': len(inputs[f'cell_{run["cell"]}'].sites),
                'swaps': swaps,
                'engine': settings.get('md_engine', 'lammps'),
            }
        )
    return orm.Dict({'runs': runs})


@calcfunction
def generate_validation_report(
    potential_properties: orm.Dict,
    parameters: orm.Dict,
    eos_labels,
    property_labels=None,
    relaxations=None,
    md=None,
    **cells,
) -> orm.Dict:
    """Return the validation report from the potential's properties, the labeller's labels (``eos_labels``
    and, for elastic constants, vacancies, formation energies and phonons, ``property_labels`` with the
    labeller's ``relaxations`` record), the ``md`` runs and the validation cells."""
    settings = _settings(parameters)
    atoms = _ordered(settings, cells)
    rows, missing = labeller_eos(settings['cells'], eos_labels.to_atoms())
    if property_labels is not None:
        frames = property_labels.to_atoms()
        record = relaxations.get_dict() if relaxations is not None else {}
        for name, reasons in labeller_properties(
            rows,
            frames,
            settings['properties'],
            settings['strains'],
            relaxations=record,
            cells=atoms,
            phonon_supercell=settings['phonon_supercell'],
        ).items():
            missing.setdefault(name, {}).update(reasons)
    md_runs = md.get_dict()['runs'] if md is not None else None
    report = compare_properties(
        potential_properties.get_dict(),
        rows,
        settings['tolerances'],
        settings['properties'],
        missing,
        md_runs,
        cells=atoms,
    )
    report['settings'] = {key: settings[key] for key in sorted(settings) if key != 'tolerances'}
    return orm.Dict(report)
