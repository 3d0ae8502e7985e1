"""Calcfunctions of the validation: the potential's properties, the labeller's structures, the MD
stability runs and the report, so the graph shows what each number came from."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from .eos import eos_key, reference_cell
from .properties import calculator_properties, centred_series, conventional_cell, md_stability, scaled_to_volume
from .report import compare_properties, labeller_eos, labeller_properties, property_structures


def _settings(parameters: orm.Dict) -> dict:
    return parameters.get_dict()


@calcfunction
def compute_potential_properties(potential, parameters: orm.Dict) -> orm.Dict:
    """Return the potential's EOS, elastic constants and vacancy energies (each cell at its own equilibrium)."""
    settings = _settings(parameters)
    rows = calculator_properties(
        settings['elements'],
        potential.get_calculator(active_set=False),
        properties=settings['properties'],
        strains=settings['strains'],
        supercell=settings['supercell'],
    )
    return orm.Dict(rows)


@calcfunction
def generate_centred_eos_structures(potential_properties: orm.Dict, parameters: orm.Dict) -> dict:
    """Return the EOS series of every validation cell centred on the potential's equilibrium, keyed
    ``eos_<cell>_<i>``: the structures both sides' EOS are fitted on."""
    rows = potential_properties.get_dict()
    return {
        eos_key(name, index): orm.StructureData(ase=scaled)
        for name, atoms in reference_cell(parameters['elements']).items()
        for index, scaled in enumerate(centred_series(atoms, rows[name]['eos']['centre_volume_per_atom']))
    }


@calcfunction
def generate_property_structures(potential, eos_labels, parameters: orm.Dict) -> dict:
    """Return the elastic and vacancy structures at the labeller's equilibrium (from its EOS labels);
    the vacancy's positions are relaxed with the potential."""
    settings = _settings(parameters)
    rows, _ = labeller_eos(settings['elements'], eos_labels.to_atoms())
    structures = property_structures(
        settings['elements'],
        rows,
        potential.get_calculator(active_set=False),
        settings['properties'],
        strains=settings['strains'],
        supercell=settings['supercell'],
    )
    return {key: orm.StructureData(ase=atoms) for key, atoms in structures.items()}


def md_cell_name(elements: list[str]) -> str:
    """Return the name of the MD stability cell: the ordered alloy, else the first element."""
    return next((name for name in reference_cell(elements) if name not in elements), elements[0])


def md_cell(elements: list[str], rows: dict, supercell: int):
    """Return the MD cell: the ordered alloy (else the first element) at the potential's equilibrium,
    conventional cell repeated ``supercell`` times."""
    name = md_cell_name(elements)
    atoms = scaled_to_volume(reference_cell(elements)[name], rows[name]['eos']['volume_per_atom'])
    return name, conventional_cell(name, atoms).repeat(supercell)


@calcfunction
def generate_md_structure(potential_properties: orm.Dict, parameters: orm.Dict) -> orm.StructureData:
    """Return the cell of the MD stability runs (see :func:`md_cell`) for the LAMMPS route."""
    settings = _settings(parameters)
    _, atoms = md_cell(settings['elements'], potential_properties.get_dict(), settings['supercell'])
    return orm.StructureData(ase=atoms)


def lammps_md_parameters(settings: dict, temperature: float, index: int) -> dict:
    """Return the ``LammpsMdWorkChain`` parameters of one stability run (NVT, halting above ``gamma_halt``).

    The steps are rounded up to a multiple of the gamma interval (10 steps).
    """
    every = 10
    return {
        'ensemble': 'nvt',
        'temperature': float(temperature),
        'steps': -(-int(settings['md_steps']) // every) * every,
        'timestep_fs': float(settings['md_timestep_fs']),
        'gamma_lower': 0.9 * float(settings['gamma_halt']),
        'gamma_upper': float(settings['gamma_halt']),
        'gamma_every': every,
        'dump_every': 10 * every,
        'seed': int(settings['seed']) + index + 1,
    }


@calcfunction
def collect_lammps_md_runs(parameters: orm.Dict, structure: orm.StructureData, **reports) -> orm.Dict:
    """Return ``{'runs': [...]}`` from the LAMMPS MD reports keyed ``run_<i>`` (one per temperature).

    A report with ``failed`` (the calculation ended with an error) counts as a halted run.
    """
    settings = _settings(parameters)
    runs = []
    for index, temperature in enumerate(settings['temperatures']):
        report = reports[f'run_{index}'].get_dict()
        steps_done = int(report.get('steps_done') or 0)
        runs.append(
            {
                'temperature': float(temperature),
                'steps': lammps_md_parameters(settings, temperature, index)['steps'],
                'steps_run': steps_done,
                'time_ps': steps_done * settings['md_timestep_fs'] / 1000,
                'timestep_fs': float(settings['md_timestep_fs']),
                'max_gamma': report.get('max_gamma'),
                'halted': bool(report.get('halted') or report.get('failed')),
                'reason': str(report.get('failed') or report.get('halt_reason') or ''),
                'atoms': len(structure.sites),
                'cell': md_cell_name(settings['elements']),
                'engine': 'lammps',
            }
        )
    return orm.Dict({'runs': runs})


@calcfunction
def run_md_stability(potential, potential_properties: orm.Dict, parameters: orm.Dict) -> orm.Dict:
    """Run the MD stability runs of the potential (pyace in ASE, gamma from the active set when stored)."""
    settings = _settings(parameters)
    name, atoms = md_cell(settings['elements'], potential_properties.get_dict(), settings['supercell'])
    calculator = potential.get_calculator(active_set=potential.has_file('asi'))
    runs = []
    for index, temperature in enumerate(settings['temperatures']):
        run = md_stability(
            atoms,
            calculator,
            temperature,
            settings['md_steps'],
            timestep_fs=settings['md_timestep_fs'],
            gamma_halt=settings['gamma_halt'],
            seed=settings['seed'] + index,
        )
        run['cell'] = name
        run['engine'] = 'ase'
        if not potential.has_file('asi'):
            run['max_gamma'] = None
        runs.append(run)
    return orm.Dict({'runs': runs})


@calcfunction
def generate_validation_report(
    potential_properties: orm.Dict, parameters: orm.Dict, eos_labels, property_labels=None, md=None
) -> orm.Dict:
    """Return the validation report from the potential's properties, the labeller's labels
    (``eos_labels`` and, for elastic constants and vacancies, ``property_labels``) and the ``md`` runs."""
    settings = _settings(parameters)
    rows, missing = labeller_eos(settings['elements'], eos_labels.to_atoms())
    if property_labels is not None:
        frames = property_labels.to_atoms()
        for name, reasons in labeller_properties(rows, frames, settings['properties'], settings['strains']).items():
            missing.setdefault(name, {}).update(reasons)
    md_runs = md.get_dict()['runs'] if md is not None else None
    report = compare_properties(
        potential_properties.get_dict(), rows, settings['tolerances'], settings['properties'], missing, md_runs
    )
    report['settings'] = {key: settings[key] for key in sorted(settings) if key != 'tolerances'}
    return orm.Dict(report)
