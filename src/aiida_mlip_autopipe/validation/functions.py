"""Calcfunctions of the validation: the cells, the potential's properties, the labeller's structures, the MD
stability runs and the report, so the graph shows what each number came from.

Every calcfunction takes the settings Dict (``parameters``) and, where it needs them, the validation
cells as keyword inputs named by cell (the outputs of :func:`generate_validation_cells`).
"""

from __future__ import annotations

import math

from aiida import orm
from aiida.engine import calcfunction
from ase import Atoms

from .cells import cell_kind, validation_cells
from .eos import eos_key
from .properties import calculator_properties, centred_series, conventional_cell, md_stability, scaled_to_volume
from .report import compare_properties, labeller_eos, labeller_properties, property_structures

#: The MD stability runs go at the highest temperature and at this factor above it.
MD_TEMPERATURE_FACTORS = (1.0, 1.2)
#: At least this many MD stability runs: cells and temperatures are repeated with new seeds until reached.
MD_MIN_RUNS = 4
#: Smallest MD cell (atoms) with LAMMPS, and of the pyace-in-ASE fallback.
MD_ATOMS_LAMMPS = 256
MD_ATOMS_ASE = 32
#: Steps between the extrapolation-grade evaluations of a LAMMPS run.
GAMMA_EVERY = 10


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
    cells = validation_cells(settings['elements'], settings['compositions'], settings['seed'])
    return {name: orm.StructureData(ase=atoms) for name, atoms in cells.items()}


@calcfunction
def compute_potential_properties(potential, parameters: orm.Dict, **cells) -> orm.Dict:
    """Return the potential's EOS, elastic constants, vacancy and formation energies and phonons (each cell
    at its own equilibrium)."""
    settings = _settings(parameters)
    rows = calculator_properties(
        _ordered(settings, cells),
        potential.get_calculator(active_set=False),
        properties=settings['properties'],
        strains=settings['strains'],
        supercell=settings['supercell'],
        phonon_supercell=settings['phonon_supercell'],
    )
    return orm.Dict(rows)


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


def md_repeats(atoms: Atoms, min_atoms: int) -> int:
    """Return the repeats per direction of the conventional cell that give at least ``min_atoms`` atoms."""
    return max(1, math.ceil((min_atoms / len(atoms)) ** (1 / 3) - 1e-9))


def md_cell(name: str, atoms: Atoms, volume_per_atom: float, min_atoms: int) -> Atoms:
    """Return the MD cell of validation cell ``name``: its conventional cell at ``volume_per_atom`` (the
    potential's equilibrium) repeated to at least ``min_atoms`` atoms."""
    conventional = conventional_cell(name, scaled_to_volume(atoms, volume_per_atom))
    return conventional.repeat(md_repeats(conventional, min_atoms))


def md_plan(settings: dict) -> list[dict]:
    """Return the MD stability runs: every validation cell at every temperature, repeated with new seeds
    until there are at least :data:`MD_MIN_RUNS`; swaps on for the cells with two or more elements.

    Each run: ``index``, ``cell``, ``temperature`` (K), ``seed`` and ``swaps`` (``{'every',
    'attempts'}`` or ``None``).
    """
    cells = settings['cells']
    temperatures = settings['temperatures']
    if not cells or not temperatures:
        return []
    repeats = math.ceil(MD_MIN_RUNS / (len(cells) * len(temperatures)))
    runs = []
    for _ in range(repeats):
        for temperature in temperatures:
            for name in cells:
                mixed = cell_kind(name, settings['elements']) != 'element'
                swapping = mixed and settings['md_swap_every'] > 0 and settings['md_swap_attempts'] > 0
                runs.append(
                    {
                        'index': len(runs),
                        'cell': name,
                        'temperature': float(temperature),
                        'seed': int(settings['seed']) + len(runs) + 1,
                        'swaps': {'every': settings['md_swap_every'], 'attempts': settings['md_swap_attempts']}
                        if swapping
                        else None,
                    }
                )
    return runs


@calcfunction
def generate_md_structures(potential_properties: orm.Dict, parameters: orm.Dict, **cells) -> dict:
    """Return the MD cells of the LAMMPS route (see :func:`md_cell`), keyed by cell name."""
    settings = _settings(parameters)
    rows = potential_properties.get_dict()
    return {
        name: orm.StructureData(ase=md_cell(name, atoms, rows[name]['eos']['volume_per_atom'], settings['md_atoms']))
        for name, atoms in _ordered(settings, cells).items()
    }


def md_steps(settings: dict) -> int:
    """Return the steps of each run, rounded up to a multiple of the gamma interval (:data:`GAMMA_EVERY`)."""
    return -(-int(settings['md_steps']) // GAMMA_EVERY) * GAMMA_EVERY


def lammps_md_parameters(settings: dict, run: dict) -> dict:
    """Return the ``LammpsMdWorkChain`` parameters of one stability run (NVT, halting above
    ``gamma_halt``, Monte Carlo swaps of every pair of types when ``run['swaps']``)."""
    parameters = {
        'ensemble': 'nvt',
        'temperature': float(run['temperature']),
        'steps': md_steps(settings),
        'timestep_fs': float(settings['md_timestep_fs']),
        'gamma_lower': 0.9 * float(settings['gamma_halt']),
        'gamma_upper': float(settings['gamma_halt']),
        'gamma_every': GAMMA_EVERY,
        'dump_every': 10 * GAMMA_EVERY,
        'seed': int(run['seed']),
    }
    if run['swaps']:
        parameters['swap_every'] = int(run['swaps']['every'])
        parameters['swap_attempts'] = int(run['swaps']['attempts'])  # per pair of elements
    return parameters


@calcfunction
def collect_lammps_md_runs(parameters: orm.Dict, **inputs) -> orm.Dict:
    """Return ``{'runs': [...]}`` from the LAMMPS MD reports keyed ``run_<i>`` (see :func:`md_plan`) and the
    MD cells keyed ``cell_<name>``.

    A report with ``failed`` (the calculation ended with an error, such as non-finite energies) counts
    as a halted run.
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
                'engine': 'lammps',
            }
        )
    return orm.Dict({'runs': runs})


@calcfunction
def run_md_stability(potential, potential_properties: orm.Dict, parameters: orm.Dict, **cells) -> orm.Dict:
    """Run the MD stability runs of :func:`md_plan` with the potential (pyace in ASE, gamma from the active
    set when stored; Monte Carlo swaps as in :func:`~.properties.md_stability`)."""
    settings = _settings(parameters)
    rows = potential_properties.get_dict()
    atoms = _ordered(settings, cells)
    calculator = potential.get_calculator(active_set=potential.has_file('asi'))
    runs = []
    for plan in md_plan(settings):
        name = plan['cell']
        swaps = plan['swaps'] or {'every': 0, 'attempts': 0}
        run = md_stability(
            md_cell(name, atoms[name], rows[name]['eos']['volume_per_atom'], settings['md_atoms']),
            calculator,
            plan['temperature'],
            settings['md_steps'],
            timestep_fs=settings['md_timestep_fs'],
            gamma_halt=settings['gamma_halt'],
            seed=plan['seed'],
            swap_every=swaps['every'],
            swap_attempts=swaps['attempts'],
        )
        run.update(cell=name, seed=plan['seed'], engine='ase')
        if not potential.has_file('asi'):
            run['max_gamma'] = None
        runs.append(run)
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
