"""The labeller's side of the validation (from single-point labels) and the comparison with the potential.

Structure keys carry what each label is for: ``eos_<cell>_<i>`` (strained series of the EOS),
``elastic_<cell>_<mode>_<i>`` (strained cells at the labeller's equilibrium), ``vacancy_<cell>_perfect``
and ``vacancy_<cell>_defect`` (the defect's positions relaxed with the potential in the labeller's cell).
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms

from .eos import eos_key, reference_cell, strained_series
from .properties import (
    ELASTIC_STRAINS,
    TOLERANCE_OF,
    VACANCY_SUPERCELL,
    conventional_cell,
    elastic_series,
    eos_of_series,
    fit_cubic_elastic,
    is_cubic,
    relax_positions,
    scaled_to_volume,
    vacancy_cells,
    vacancy_formation_energy,
)

#: Quantities compared, with the side's row they come from.
QUANTITIES = {
    'lattice_a': ('eos', 'lattice_a'),
    'bulk_modulus': ('eos', 'bulk_modulus_gpa'),
    'c11': ('elastic', 'c11'),
    'c12': ('elastic', 'c12'),
    'c44': ('elastic', 'c44'),
    'vacancy_energy': ('vacancy', 'vacancy_energy'),
}


def group_frames(frames) -> dict[str, dict[str, Atoms]]:
    """Return labelled frames grouped ``{kind: {key: atoms}}`` by the prefix of their ``config_type``."""
    groups: dict[str, dict[str, Atoms]] = {}
    for atoms in frames:
        key = atoms.info['config_type']
        groups.setdefault(key.split('_', 1)[0], {})[key] = atoms
    return groups


def labeller_eos(elements: list[str], frames) -> tuple[dict, dict]:
    """Return ``({cell: {'eos': fit}}, {cell: {'eos': reason}})`` from the labelled EOS frames."""
    labelled = group_frames(frames).get('eos', {})
    rows, missing = {}, {}
    for name, atoms in reference_cell(elements).items():
        keys = [eos_key(name, index) for index in range(len(strained_series(atoms)))]
        series = [labelled[key] for key in keys if key in labelled]
        if len(series) < len(keys):
            missing[name] = {'eos': f'only {len(series)} of {len(keys)} EOS points were labelled'}
            continue
        rows[name] = {'eos': eos_of_series(name, series, [frame.get_potential_energy() for frame in series])}
    return rows, missing


def property_structures(
    elements: list[str],
    eos_rows: dict,
    calculator,
    properties,
    strains=ELASTIC_STRAINS,
    supercell: int = VACANCY_SUPERCELL,
) -> dict[str, Atoms]:
    """Return the elastic and vacancy structures at the labeller's fitted equilibrium of each cell.

    The vacancy's positions are relaxed with ``calculator`` (the potential) in the labeller's cell:
    the labeller evaluates single points, it relaxes nothing.
    """
    structures = {}
    for name, atoms in reference_cell(elements).items():
        if name not in eos_rows:
            continue
        equilibrium = scaled_to_volume(atoms, eos_rows[name]['eos']['volume_per_atom'])
        if 'elastic' in properties and is_cubic(name, atoms):
            for (mode, index), cell in elastic_series(equilibrium, strains).items():
                structures[f'elastic_{name}_{mode}_{index}'] = cell
        if 'vacancy' in properties:
            perfect, defect, _ = vacancy_cells(conventional_cell(name, equilibrium), supercell)
            structures[f'vacancy_{name}_perfect'] = perfect
            structures[f'vacancy_{name}_defect'] = relax_positions(defect, calculator)[0]
    return structures


def removed_species(perfect: Atoms, defect: Atoms) -> str:
    """Return the species missing from ``defect`` compared with ``perfect``."""
    symbols = defect.get_chemical_symbols()
    return next(
        s
        for s in sorted(set(perfect.get_chemical_symbols()))
        if perfect.get_chemical_symbols().count(s) > symbols.count(s)
    )


def labeller_properties(rows: dict, frames, properties, strains=ELASTIC_STRAINS) -> dict:
    """Add the labeller's elastic constants and vacancy energies from labelled ``frames`` to ``rows``.

    Returns ``{cell: {property: reason}}`` for what could not be computed (a label missing).
    """
    groups = group_frames(frames)
    missing = {}
    for name, row in rows.items():
        if 'elastic' in properties:
            elastic = {key: atoms for key, atoms in groups.get('elastic', {}).items() if key.split('_')[1] == name}
            expected = 2 * len(strains)
            if len(elastic) == expected:
                stresses = {}
                for key, atoms in elastic.items():
                    _, _, mode, index = key.split('_')
                    stresses[(mode, int(index))] = np.asarray(atoms.get_stress(), dtype=float)
                row['elastic'] = fit_cubic_elastic(stresses, strains)
            elif elastic:
                missing.setdefault(name, {})['elastic'] = f'only {len(elastic)} of {expected} strained cells labelled'
        if 'vacancy' in properties:
            vacancy = groups.get('vacancy', {})
            perfect, defect = vacancy.get(f'vacancy_{name}_perfect'), vacancy.get(f'vacancy_{name}_defect')
            if perfect is None or defect is None:
                missing.setdefault(name, {})['vacancy'] = 'the perfect or the defect supercell was not labelled'
                continue
            species = removed_species(perfect, defect)
            perfect_energy = perfect.get_potential_energy()
            if species == name:
                mu = perfect_energy / len(perfect)
            elif species in rows:
                mu = rows[species]['eos']['energy_per_atom']
            else:
                missing.setdefault(name, {})['vacancy'] = f'no EOS of {species} for its chemical potential'
                continue
            row['vacancy'] = {
                'vacancy_energy': vacancy_formation_energy(defect.get_potential_energy(), perfect_energy, mu),
                'species': species,
                'sites': len(perfect),
                'relaxed': False,
            }
    return missing


def _value(row: dict, quantity: str):
    group, key = QUANTITIES[quantity]
    value = (row.get(group) or {}).get(key)
    return None if value is None or not math.isfinite(value) else float(value)


def _extrapolated(row: dict) -> bool:
    return bool((row.get('eos') or {}).get('extrapolated'))


def compare_properties(
    potential_rows: dict,
    labeller_rows: dict,
    tolerances: dict,
    properties,
    missing: dict | None = None,
    md_runs: list | None = None,
) -> dict:
    """Return the validation report: both sides, errors, pass/fail per property and the failing list.

    Errors are relative (potential / labeller - 1) except ``vacancy_energy`` (potential - labeller, eV).
    A property computed on one side only fails, with the reason in ``missing``; so do the lattice
    parameter and bulk modulus when a side's EOS minimum lies outside the sampled volumes.
    """
    missing = missing or {}
    wanted = {'eos': ('lattice_a', 'bulk_modulus'), 'elastic': ('c11', 'c12', 'c44'), 'vacancy': ('vacancy_energy',)}
    cells, failed = {}, []
    for name in sorted(potential_rows):
        potential, labeller = potential_rows[name], labeller_rows.get(name, {})
        entry = {'potential': {}, 'labeller': {}, 'error': {}, 'passed': {}, 'missing': {}}
        for group, quantities in wanted.items():
            if group not in properties or (group == 'elastic' and 'elastic' not in potential):
                continue
            for quantity in quantities:
                ours, theirs = _value(potential, quantity), _value(labeller, quantity)
                entry['potential'][quantity] = ours
                entry['labeller'][quantity] = theirs
                if ours is None or theirs is None:
                    reason = (
                        (missing.get(name) or {}).get(group)
                        if isinstance(missing.get(name), dict)
                        else missing.get(name)
                    )
                    entry['missing'][quantity] = reason or 'not computed'
                    entry['passed'][quantity] = False
                    failed.append(f'{name} {quantity} (not computed)')
                    continue
                error = ours - theirs if quantity == 'vacancy_energy' else ours / theirs - 1
                entry['error'][quantity] = error
                entry['passed'][quantity] = abs(error) <= tolerances[TOLERANCE_OF[quantity]]
                shown = f'{error:+.3f} eV' if quantity == 'vacancy_energy' else f'{error:+.1%}'
                outside = [
                    side for side, row in (('potential', potential), ('labeller', labeller)) if _extrapolated(row)
                ]
                if group == 'eos' and outside:
                    entry['passed'][quantity] = False
                    entry['missing'][quantity] = f'{" and ".join(outside)} minimum outside the sampled volumes'
                    shown += f', {entry["missing"][quantity]}'
                if not entry['passed'][quantity]:
                    failed.append(f'{name} {quantity} ({shown})')
        if 'vacancy' in properties:
            for side, row in (('potential', potential), ('labeller', labeller)):
                if 'vacancy' in row:
                    entry[side]['vacancy_species'] = row['vacancy']['species']
                    entry[side]['vacancy_sites'] = row['vacancy']['sites']
        cells[name] = entry
    report = {'cells': cells, 'tolerances': dict(tolerances)}
    report['eos_curves'] = {
        name: {
            side: rows[name]['eos']['curve']
            for side, rows in (('potential', potential_rows), ('labeller', labeller_rows))
            if name in rows
        }
        for name in sorted(potential_rows)
    }
    if md_runs is not None:
        for run in md_runs:
            if run['halted']:
                failed.append(f'md {run["temperature"]:g} K (halted after {run["time_ps"]:g} ps: {run["reason"]})')
        report['md'] = {'runs': md_runs, 'passed': not any(run['halted'] for run in md_runs)}
    report['failed'] = failed
    report['passed'] = not failed
    return report


def format_validation_table(report: dict) -> str:
    """Return the validation report as a text table (cell, quantity, potential, labeller, error, verdict)."""
    units = {'lattice_a': 'A', 'bulk_modulus': 'GPa', 'c11': 'GPa', 'c12': 'GPa', 'c44': 'GPa', 'vacancy_energy': 'eV'}
    lines = [f'{"cell":<8} {"property":<20} {"potential":>10} {"labeller":>10} {"error":>9}  verdict']
    for name, entry in sorted(report.get('cells', {}).items()):
        for quantity, passed in entry['passed'].items():
            ours, theirs = entry['potential'].get(quantity), entry['labeller'].get(quantity)
            error = entry['error'].get(quantity)
            if error is None:
                shown = '-'
            elif quantity == 'vacancy_energy':
                shown = f'{error:+.3f}'
            else:
                shown = f'{error:+.1%}'
            ours = '-' if ours is None else format(ours, '.3f')
            theirs = '-' if theirs is None else format(theirs, '.3f')
            lines.append(
                f'{name:<8} {quantity + " (" + units[quantity] + ")":<20} {ours:>10} {theirs:>10} '
                f'{shown:>9}  {"pass" if passed else "FAIL"}'
            )
    for run in (report.get('md') or {}).get('runs', []):
        gamma = run.get('max_gamma')
        lines.append(
            f'md {run["temperature"]:g} K, {run["time_ps"]:g} of {run["steps"] * run["timestep_fs"] / 1000:g} ps: '
            f'max gamma {"-" if gamma is None else format(gamma, ".2f")}, '
            f'{"halted (" + run["reason"] + ")" if run["halted"] else "stable"}'
        )
    lines.append('passed' if report.get('passed') else f'FAILED: {"; ".join(report.get("failed", []))}')
    return '\n'.join(lines)
