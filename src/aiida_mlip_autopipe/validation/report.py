"""The labeller's side of the validation (from its labels) and the comparison with the potential.

Structure keys carry what each label is for: ``eos_<cell>_<i>`` (strained series of the EOS),
``elastic_<cell>_<mode>_<i>`` (strained cells at the labeller's equilibrium), ``vacancy_<cell>_perfect``
and ``vacancy_<cell>_defect`` (the defect relaxed by the labeller itself), ``formation_<cell>`` (a
disordered cell at the labeller's equilibrium volume, relaxed by the labeller), ``phonon_<cell>_<i>``
(phonopy's displaced supercells of the conventional cell at the labeller's equilibrium).
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms

from .cells import cell_kind, composition_of
from .eos import VOLUME_STRAINS, eos_key
from .phonons import PHONON_SUPERCELL, compare_phonons, displaced_supercells, matching_supercells, phonon_spectrum
from .properties import (
    ABSOLUTE_QUANTITIES,
    ELASTIC_STRAINS,
    TOLERANCE_OF,
    VACANCY_SUPERCELL,
    cell_elements,
    conventional_cell,
    elastic_series,
    eos_of_series,
    fit_cubic_elastic,
    formation_row,
    has_phonons,
    is_cubic,
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
    'formation_energy': ('formation', 'formation_energy'),
}
#: Quantities of each property.
PROPERTY_QUANTITIES = {
    'eos': ('lattice_a', 'bulk_modulus'),
    'elastic': ('c11', 'c12', 'c44'),
    'vacancy': ('vacancy_energy',),
    'formation': ('formation_energy',),
    'phonons': ('max_frequency', 'phonon_rmse', 'phonon_max_error'),
}


def group_frames(frames) -> dict[str, dict[str, Atoms]]:
    """Return labelled frames grouped ``{kind: {key: atoms}}`` by the prefix of their ``config_type``."""
    groups: dict[str, dict[str, Atoms]] = {}
    for atoms in frames:
        key = atoms.info['config_type']
        groups.setdefault(key.split('_', 1)[0], {})[key] = atoms
    return groups


def labeller_eos(names, frames) -> tuple[dict, dict]:
    """Return ``({cell: {'eos': fit}}, {cell: {'eos': reason}})`` from the labelled EOS frames of the
    cells ``names``."""
    labelled = group_frames(frames).get('eos', {})
    rows, missing = {}, {}
    for name in names:
        keys = [eos_key(name, index) for index in range(len(VOLUME_STRAINS))]
        series = [labelled[key] for key in keys if key in labelled]
        if len(series) < len(keys):
            missing[name] = {'eos': f'only {len(series)} of {len(keys)} EOS points were labelled'}
            continue
        rows[name] = {'eos': eos_of_series(name, series, [frame.get_potential_energy() for frame in series])}
    return rows, missing


def property_structures(
    cells: dict[str, Atoms],
    eos_rows: dict,
    properties,
    strains=ELASTIC_STRAINS,
    supercell: int = VACANCY_SUPERCELL,
    phonon_supercell: int = PHONON_SUPERCELL,
) -> dict[str, Atoms]:
    """Return the elastic, vacancy, formation and phonon structures at the labeller's fitted equilibrium of
    each cell.

    The vacancy's defect cell and the disordered cells (``formation_<cell>``) are given as built (atoms
    on their lattice sites): the labeller relaxes them itself (:func:`relax_keys`), as the potential
    relaxes its own. The phonon supercells (``phonon_<cell>_<i>``) are labelled as they are.
    """
    elements = cell_elements(cells)
    structures = {}
    for name, atoms in cells.items():
        if name not in eos_rows:
            continue
        kind = cell_kind(name, elements)
        equilibrium = scaled_to_volume(atoms, eos_rows[name]['eos']['volume_per_atom'])
        if 'elastic' in properties and kind != 'sqs' and is_cubic(name, atoms):
            for (mode, index), cell in elastic_series(equilibrium, strains).items():
                structures[f'elastic_{name}_{mode}_{index}'] = cell
        if 'vacancy' in properties and kind != 'sqs':
            perfect, defect, _ = vacancy_cells(conventional_cell(name, equilibrium), supercell)
            structures[f'vacancy_{name}_perfect'] = perfect
            structures[f'vacancy_{name}_defect'] = defect
        if 'formation' in properties and kind == 'sqs':
            structures[f'formation_{name}'] = equilibrium
        if 'phonons' in properties and has_phonons(name, atoms, kind):
            for index, cell in enumerate(displaced_supercells(conventional_cell(name, equilibrium), phonon_supercell)):
                structures[f'phonon_{name}_{index}'] = cell
    return structures


def relax_keys(keys) -> list[str]:
    """Return the structure keys among ``keys`` whose positions the labeller relaxes: vacancy defects and
    disordered cells."""
    return sorted(
        key for key in keys if key.startswith('formation_') or (key.startswith('vacancy_') and key.endswith('_defect'))
    )


def removed_species(perfect: Atoms, defect: Atoms) -> str:
    """Return the species missing from ``defect`` compared with ``perfect``."""
    symbols = defect.get_chemical_symbols()
    return next(
        s
        for s in sorted(set(perfect.get_chemical_symbols()))
        if perfect.get_chemical_symbols().count(s) > symbols.count(s)
    )


def _converged(relaxations: dict | None, key: str) -> bool:
    """Return whether the labeller's relaxation of ``key`` converged (``False`` when it was not relaxed)."""
    return bool(((relaxations or {}).get(key) or {}).get('converged'))


def labeller_properties(
    rows: dict,
    frames,
    properties,
    strains=ELASTIC_STRAINS,
    relaxations=None,
    cells=None,
    phonon_supercell: int = PHONON_SUPERCELL,
) -> dict:
    """Add the labeller's elastic constants, vacancy and formation energies and phonons from labelled ``frames``
    to ``rows``.

    ``relaxations`` is the labelling work chain's record (``{key: {'converged': ...}}``); ``cells`` the
    validation cells by name (for the compositions and the phonon supercells; formation energies and
    phonons need it). Returns ``{cell: {property: reason}}`` for what could not be computed (a label
    missing).
    """
    groups = group_frames(frames)
    elements = cell_elements(cells or rows)
    missing = {}
    for name, row in rows.items():
        kind = cell_kind(name, elements)
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
        if 'vacancy' in properties and kind != 'sqs':
            vacancy = groups.get('vacancy', {})
            perfect, defect = vacancy.get(f'vacancy_{name}_perfect'), vacancy.get(f'vacancy_{name}_defect')
            if perfect is None or defect is None:
                missing.setdefault(name, {})['vacancy'] = 'the perfect or the defect supercell was not labelled'
            else:
                species = removed_species(perfect, defect)
                perfect_energy = perfect.get_potential_energy()
                if species == name:
                    mu = perfect_energy / len(perfect)
                elif species in rows:
                    mu = rows[species]['eos']['energy_per_atom']
                else:
                    mu = None
                    missing.setdefault(name, {})['vacancy'] = f'no EOS of {species} for its chemical potential'
                if mu is not None:
                    row['vacancy'] = {
                        'vacancy_energy': vacancy_formation_energy(defect.get_potential_energy(), perfect_energy, mu),
                        'species': species,
                        'sites': len(perfect),
                        'relaxed': _converged(relaxations, f'vacancy_{name}_defect'),
                    }
        if 'formation' in properties and kind != 'element':
            absent = [element for element in elements if element not in rows]
            frame = groups.get('formation', {}).get(f'formation_{name}')
            if absent:
                missing.setdefault(name, {})['formation'] = f'no EOS of {", ".join(absent)} for the reference energies'
            elif cells is None or name not in cells:
                missing.setdefault(name, {})['formation'] = 'the cell is not known'
            elif kind == 'sqs' and frame is None:
                missing.setdefault(name, {})['formation'] = 'the relaxed disordered cell was not labelled'
            else:
                relaxed = None
                if kind == 'sqs':
                    relaxed = (frame, _converged(relaxations, f'formation_{name}'))
                row['formation'] = formation_row(cells[name], row, rows, elements, relaxed)
        if 'phonons' in properties and cells is not None and name in cells and has_phonons(name, cells[name], kind):
            reason = labeller_phonons(row, name, cells[name], groups.get('phonon', {}), phonon_supercell)
            if reason:
                missing.setdefault(name, {})['phonons'] = reason
    return missing


def labeller_phonons(row: dict, name: str, atoms: Atoms, labelled: dict, supercell: int) -> str | None:
    """Add the labeller's phonons of cell ``name`` to its ``row`` from the labelled ``phonon_<name>_<i>``
    supercells; return the reason when they cannot be computed."""
    prefix = f'phonon_{name}_'
    suffixes = [key[len(prefix) :] for key in labelled if key.startswith(prefix)]
    indices = sorted(int(suffix) for suffix in suffixes if suffix.isdigit())
    conventional = conventional_cell(name, scaled_to_volume(atoms, row['eos']['volume_per_atom']))
    expected = len(displaced_supercells(conventional, supercell))
    if indices != list(range(expected)):
        return f'only {len(indices)} of {expected} displaced supercells labelled'
    frames = [labelled[f'{prefix}{index}'] for index in indices]
    if not matching_supercells(frames, conventional, supercell):
        return "the labelled supercells are not the displaced supercells of the labeller's equilibrium cell"
    row['phonons'] = phonon_spectrum(conventional, [frame.get_forces() for frame in frames], supercell)
    return None


def _reason(missing: dict, name: str, group: str) -> str | None:
    reasons = missing.get(name)
    return reasons.get(group) if isinstance(reasons, dict) else reasons


def _compare_phonon_entry(
    entry: dict, name: str, potential: dict, labeller: dict, tolerances: dict, missing: dict, failed: list
) -> dict | None:
    """Fill ``entry`` with the phonon rows of cell ``name`` and append the failing ones to ``failed``; return
    both sides' bands and densities of states (``None`` without the labeller's).

    Rows: ``max_frequency`` (both sides' highest frequency over the mesh, relative error),
    ``phonon_rmse`` (RMSE of the frequencies over the mesh; error column) and ``phonon_max_error``
    (the largest difference, with both sides' frequencies there), all THz
    (:func:`~.phonons.compare_phonons`: each passes within ``phonon_frequency`` x the labeller's
    highest frequency, relative for ``max_frequency``).
    """
    ours, theirs = potential['phonons'], labeller.get('phonons')
    entry['potential']['max_frequency'] = ours['max_frequency']
    if theirs is None:
        entry['labeller']['max_frequency'] = None
        for quantity in PROPERTY_QUANTITIES['phonons']:
            entry['missing'][quantity] = _reason(missing, name, 'phonons') or 'not computed'
            entry['passed'][quantity] = False
            failed.append(f'{name} {quantity} (not computed)')
        return None
    comparison = compare_phonons(ours, theirs, tolerances['phonon_frequency'])
    worst = comparison['worst']
    entry['labeller']['max_frequency'] = theirs['max_frequency']
    entry['potential']['phonon_rmse'] = entry['labeller']['phonon_rmse'] = None
    entry['potential']['phonon_max_error'] = worst['potential']
    entry['labeller']['phonon_max_error'] = worst['labeller']
    entry['error'].update(
        max_frequency=comparison['max_frequency_error'],
        phonon_rmse=comparison['rmse'],
        phonon_max_error=comparison['max_error'],
    )
    entry['passed'].update(comparison['passed'])
    entry['phonons'] = {
        'rmse': comparison['rmse'],
        'max_error': comparison['max_error'],
        'worst': worst,
        'limit': comparison['limit'],
        'min_frequency': {'potential': ours['min_frequency'], 'labeller': theirs['min_frequency']},
        **{key: theirs[key] for key in ('centring', 'supercell', 'supercell_atoms', 'displacements', 'mesh')},
    }
    for quantity, passed in comparison['passed'].items():
        if passed:
            continue
        if quantity == 'max_frequency':
            shown = _shown_error(quantity, comparison['max_frequency_error'])
        else:
            entry['missing'][quantity] = (
                f'limit {comparison["limit"]:.3f} THz = {tolerances["phonon_frequency"]:.0%} of '
                f'{theirs["max_frequency"]:.3f} THz'
            )
            shown = f'{entry["error"][quantity]:+.3f} THz, {entry["missing"][quantity]}'
        failed.append(f'{name} {quantity} ({shown})')
    return {
        'labels': theirs['band']['labels'],
        'segments': theirs['band']['segments'],
        'rmse': comparison['rmse'],
        'max_error': comparison['max_error'],
        **{
            side: {key: row['band'][key] for key in ('distances', 'frequencies')} | {'dos': row['dos']}
            for side, row in (('potential', ours), ('labeller', theirs))
        },
    }


def _value(row: dict, quantity: str):
    group, key = QUANTITIES[quantity]
    value = (row.get(group) or {}).get(key)
    return None if value is None or not math.isfinite(value) else float(value)


def _extrapolated(row: dict) -> bool:
    return bool((row.get('eos') or {}).get('extrapolated'))


def _relaxation_failed(row: dict, group: str) -> bool:
    """Return whether the side's ``group`` (vacancy or formation) came from a relaxation that did not converge."""
    return (row.get(group) or {}).get('relaxed') is False


def compare_properties(
    potential_rows: dict,
    labeller_rows: dict,
    tolerances: dict,
    properties,
    missing: dict | None = None,
    md_runs: list | None = None,
    cells: dict | None = None,
) -> dict:
    """Return the validation report: both sides, errors, pass/fail per property and the failing list.

    Errors are relative (potential / labeller - 1) except ``vacancy_energy`` (eV) and
    ``formation_energy`` (eV/atom): potential - labeller. A property computed on one side only fails,
    with the reason in ``missing``; so do the lattice parameter and bulk modulus when a side's EOS
    minimum lies outside the sampled volumes, and a vacancy or formation energy whose relaxation did
    not converge on either side. ``cells`` (validation cells by name) gives each entry its ``kind``
    and ``composition``. A halted MD run fails. Phonons: see :func:`_compare_phonon_entry`; both
    sides' bands and densities of states go to ``phonon_bands`` (for the plot).
    """
    missing = missing or {}
    elements = cell_elements(cells or potential_rows)
    cells_report, failed, phonon_bands = {}, [], {}
    for name in sorted(potential_rows):
        potential, labeller = potential_rows[name], labeller_rows.get(name, {})
        entry = {'potential': {}, 'labeller': {}, 'error': {}, 'passed': {}, 'missing': {}}
        entry['kind'] = cell_kind(name, elements)
        if cells and name in cells:
            entry['composition'] = composition_of(cells[name], elements)
        for group, quantities in PROPERTY_QUANTITIES.items():
            if group not in properties or (group != 'eos' and group not in potential):
                continue
            if group == 'phonons':
                bands = _compare_phonon_entry(entry, name, potential, labeller, tolerances, missing, failed)
                if bands:
                    phonon_bands[name] = bands
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
                absolute = quantity in ABSOLUTE_QUANTITIES
                error = ours - theirs if absolute else ours / theirs - 1
                entry['error'][quantity] = error
                entry['passed'][quantity] = abs(error) <= tolerances[TOLERANCE_OF[quantity]]
                shown = _shown_error(quantity, error)
                outside = [
                    side for side, row in (('potential', potential), ('labeller', labeller)) if _extrapolated(row)
                ]
                if group == 'eos' and outside:
                    entry['passed'][quantity] = False
                    entry['missing'][quantity] = f'{" and ".join(outside)} minimum outside the sampled volumes'
                    shown += f', {entry["missing"][quantity]}'
                unrelaxed = [
                    side
                    for side, row in (('potential', potential), ('labeller', labeller))
                    if _relaxation_failed(row, group)
                ]
                if unrelaxed:
                    entry['passed'][quantity] = False
                    entry['missing'][quantity] = f'{" and ".join(unrelaxed)} relaxation did not converge'
                    shown += f', {entry["missing"][quantity]}'
                if not entry['passed'][quantity]:
                    failed.append(f'{name} {quantity} ({shown})')
        for side, row in (('potential', potential), ('labeller', labeller)):
            if 'vacancy' in properties and 'vacancy' in row:
                entry[side]['vacancy_species'] = row['vacancy']['species']
                entry[side]['vacancy_sites'] = row['vacancy']['sites']
                entry[side]['vacancy_relaxed'] = row['vacancy']['relaxed']
            if 'formation' in properties and 'formation' in row:
                entry[side]['formation_relaxed'] = row['formation']['relaxed']
                if 'formation_energy_unrelaxed' in row['formation']:
                    entry[side]['formation_energy_unrelaxed'] = row['formation']['formation_energy_unrelaxed']
        cells_report[name] = entry
    report = {'cells': cells_report, 'tolerances': dict(tolerances)}
    report['eos_curves'] = {
        name: {
            side: rows[name]['eos']['curve']
            for side, rows in (('potential', potential_rows), ('labeller', labeller_rows))
            if name in rows
        }
        for name in sorted(potential_rows)
    }
    if 'phonons' in properties:
        report['phonon_bands'] = phonon_bands
    if md_runs is not None:
        for run in md_runs:
            if run['halted']:
                where = ' '.join(str(part) for part in (run.get('cell'), f'{run["temperature"]:g} K') if part)
                failed.append(f'md {where} (halted after {run["time_ps"]:g} ps: {run["reason"]})')
        report['md'] = {'runs': md_runs, 'passed': not any(run['halted'] for run in md_runs)}
    report['failed'] = failed
    report['passed'] = not failed
    return report


#: Unit of each quantity in the table.
UNITS = {
    'lattice_a': 'A',
    'bulk_modulus': 'GPa',
    'c11': 'GPa',
    'c12': 'GPa',
    'c44': 'GPa',
    'vacancy_energy': 'eV',
    'formation_energy': 'meV/atom',
    'max_frequency': 'THz',
    'phonon_rmse': 'THz',
    'phonon_max_error': 'THz',
}


def _shown_error(quantity: str, error: float) -> str:
    if quantity == 'formation_energy':
        return f'{1000 * error:+.1f} meV/atom'
    if quantity == 'vacancy_energy':
        return f'{error:+.3f} eV'
    if quantity in ('phonon_rmse', 'phonon_max_error'):
        return f'{error:+.3f} THz'
    return f'{error:+.1%}'


def _shown_value(quantity: str, value) -> str:
    if value is None:
        return '-'
    return format(1000 * value, '.1f') if quantity == 'formation_energy' else format(value, '.3f')


def _composition_label(composition: dict | None) -> str:
    if not composition:
        return ''
    return ' '.join(f'{element} {fraction:.3f}' for element, fraction in composition.items())


def _cell_order(item) -> tuple:
    name, entry = item
    composition = entry.get('composition') or {}
    fractions = tuple(-fraction for fraction in composition.values())
    return (fractions, ('element', 'ordered', 'sqs').index(entry.get('kind', 'element')), name)


def _subsystem(entry: dict) -> tuple[str, ...]:
    """Return the elements present in a cell (fraction above zero), in the report's element order."""
    return tuple(element for element, fraction in (entry.get('composition') or {}).items() if fraction > 1e-9)


def _grouped_order(item) -> tuple:
    _, entry = item
    elements = list(entry.get('composition') or {})
    present = _subsystem(entry)
    return (len(present), [elements.index(element) for element in present], *_cell_order(item))


def format_validation_table(report: dict) -> str:
    """Return the validation report as a text table: one block per cell (name, kind, composition; cells in
    order of composition), a row per quantity (potential, labeller, error, verdict), then the MD runs.

    With three or more elements the cells are grouped by the elements they contain, under a heading
    each: the end members, then each pair (its ordered compound, its disordered cells), then each
    triple and so on."""
    lines = [f'{"  property":<30} {"potential":>10} {"labeller":>10} {"error":>10}  verdict']
    cells = report.get('cells', {})
    grouped = max((len(entry.get('composition') or {}) for entry in cells.values()), default=0) >= 3
    heading = None
    for name, entry in sorted(cells.items(), key=_grouped_order if grouped else _cell_order):
        if grouped:
            present = _subsystem(entry)
            title = 'end members' if len(present) == 1 else '-'.join(present)
            if title != heading:
                heading = title
                lines.append(f'== {title} ==')
        lines.append(
            f'{name} ({entry.get("kind", "cell")}{", " if entry.get("composition") else ""}'
            f'{_composition_label(entry.get("composition"))})'
        )
        for quantity, passed in entry['passed'].items():
            ours, theirs = entry['potential'].get(quantity), entry['labeller'].get(quantity)
            error = entry['error'].get(quantity)
            if error is None:
                shown = '-'
            elif quantity == 'formation_energy':
                shown = f'{1000 * error:+.1f}'
            elif quantity == 'phonon_rmse':
                shown = f'{error:.3f}'
            elif quantity in ('vacancy_energy', 'phonon_max_error'):
                shown = f'{error:+.3f}'
            else:
                shown = f'{error:+.1%}'
            label = f'  {quantity} ({UNITS[quantity]})'
            note = entry.get('missing', {}).get(quantity)
            lines.append(
                f'{label:<30} {_shown_value(quantity, ours):>10} {_shown_value(quantity, theirs):>10} '
                f'{shown:>10}  {"pass" if passed else "FAIL"}{f" ({note})" if note and not passed else ""}'
            )
    runs = (report.get('md') or {}).get('runs', [])
    if runs:
        lines.append(f'MD stability ({len(runs)} runs)')
    for run in runs:
        gamma = run.get('max_gamma')
        swaps = run.get('swaps')
        swapped = (
            f'swaps {swaps["attempts"]}/{swaps["every"]} steps'
            + (f' ({swaps["accepted"]} of {swaps["attempted"]} accepted)' if 'accepted' in swaps else '')
            if swaps
            else 'no swaps'
        )
        lines.append(
            f'  {run.get("cell", "")} {run["temperature"]:g} K, {run.get("atoms", "?")} atoms, {swapped}, '
            f'{run.get("engine", "")}: {run["time_ps"]:g} of {run["steps"] * run["timestep_fs"] / 1000:g} ps, '
            f'max gamma {"-" if gamma is None else format(gamma, ".2f")}, '
            f'{"halted (" + run["reason"] + ")" if run["halted"] else "stable"}'
        )
    lines.append('passed' if report.get('passed') else f'FAILED: {"; ".join(report.get("failed", []))}')
    return '\n'.join(lines)
