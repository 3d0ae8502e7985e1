"""``mlip-autopipe export``: a campaign's potential as a folder that works without AiiDA.

The folder holds the potential's files, a LAMMPS input and an ASE script that run as they are on
an example structure, the training (and held-out) set as extended XYZ, the validation report, the
iteration table and ``metadata.json``, which leads back to the nodes of the provenance graph.

Pure writers (:func:`lammps_input`, :func:`ase_script`, :func:`readme_text`,
:func:`example_structure`, :func:`write_export`) work on plain values and unstored nodes; the AiiDA
glue (:func:`export_source`, :func:`export_node`) finds what to write from a campaign or a
potential node.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from ase import Atoms

LOGGER = logging.getLogger(__name__)

__all__ = (
    'ExportContent',
    'ExportError',
    'ase_script',
    'example_structure',
    'export_node',
    'export_source',
    'find_called',
    'labeller_metadata',
    'lammps_input',
    'readme_text',
    'write_export',
)

CAMPAIGN_PROCESS_TYPE = 'aiida.workflows:mlip_autopipe.campaign'
PW_PROCESS_TYPE = 'aiida.calculations:quantumespresso.pw'
#: The MD runs: aiida-lammps' ``lammps.raw`` jobs of ``LammpsMdWorkChain`` (before, the plugin's own CalcJob).
LAMMPS_PROCESS_TYPE = 'aiida.calculations:lammps.raw'
LAMMPS_MD_PROCESS_TYPE = 'aiida.workflows:mlip_autopipe.lammps.md'
LEGACY_LAMMPS_PROCESS_TYPE = 'aiida.calculations:mlip_autopipe.lammps.md'
PACEMAKER_PROCESS_TYPE = 'aiida.calculations:mlip_autopipe.pacemaker'
VALIDATION_PROCESS_TYPE = 'aiida.workflows:mlip_autopipe.validation'

#: File name -> what it is (the README's lines, in this order). Only the files written are listed.
FILES = {
    'README.txt': 'this file',
    'potential.yaml': 'the ACE potential, B-basis (pyace, pacemaker, LAMMPS `pair_style pace/extrapolation`)',
    'potential.yace': 'the same potential, Ctilde basis (LAMMPS `pair_style pace`)',
    'potential.asi': 'active-set inverse: extrapolation grade gamma (pyace, `pair_style pace/extrapolation`)',
    'in.lammps': 'LAMMPS input: 100 MD steps of example.data with `pair_style pace` (run: lmp -in in.lammps)',
    'in.extrapolation.lammps': 'the same run with `pair_style pace/extrapolation`: largest gamma per step, '
    'halts above the upper threshold (run: lmp -in in.extrapolation.lammps)',
    'example.data': 'example structure, LAMMPS data file (atom_style atomic; type i = i-th element of the potential)',
    'example.extxyz': 'the same example structure, extended XYZ',
    'use_with_ase.py': 'Python/ASE script: energy of example.extxyz (or of a file given as argument) with pyace, '
    'reference energies added',
    'training_set.extxyz': 'the labelled structures the potential was fitted on (energy eV, forces eV/A, '
    'stress eV/A^3), extended XYZ',
    'held_out_set.extxyz': "the campaign's held-out labelled structures (never fitted), extended XYZ",
    'validation.txt': 'validation table: properties of the potential against the labeller',
    'validation.json': 'the full validation report (both sides, errors, EOS curves, MD runs)',
    'iterations.txt': "the campaign's iteration table (force RMSE meV/A, energy RMSE meV/atom)",
    'metadata.json': 'provenance: campaign settings, labeller, pseudopotentials, codes and versions, node UUIDs, '
    'AiiDA profile, export date, iteration table',
}
#: Steps, temperature (K) and time step (fs) of the example MD when the campaign does not say.
EXAMPLE_MD = {'steps': 100, 'temperature': 300.0, 'timestep_fs': 1.0, 'seed': 4928459}
#: Extrapolation grade above which the example run halts when the campaign does not say.
DEFAULT_GAMMA_UPPER = 10.0
#: The example structure has at least this many atoms.
EXAMPLE_MIN_ATOMS = 100


class ExportError(ValueError):
    """What cannot be exported, and why (the message is shown to the user as it is)."""


# -- pure helpers ------------------------------------------------------------------------------------


def reference_terms(reference_energies: dict[str, float], elements: list[str]) -> dict[str, float]:
    """Return the energy (eV) to add per atom of each element to the potential's energy.

    pacemaker fits ``E - sum_i ref[element_i] + shift * N``, so each atom adds ``ref - shift``
    back (``AcePotential.reference_energy``). Elements without a reference add ``-shift``.
    """
    shift = float(reference_energies.get('shift', 0.0))
    return {element: float(reference_energies.get(element, 0.0)) - shift for element in elements}


def example_structure(element: str, min_atoms: int = EXAMPLE_MIN_ATOMS) -> Atoms:
    """Return ``element`` in ASE's reference crystal, conventional cell, repeated to at least ``min_atoms``.

    The cell is repeated along its shortest vector until it holds ``min_atoms`` atoms (fcc: 108).
    Raises :class:`ExportError` when ASE knows no crystal for ``element``.
    """
    from ase.build import bulk

    atoms = None
    for options in ({'cubic': True}, {'orthorhombic': True}, {}):
        try:
            atoms = bulk(element, **options)
            break
        except (ValueError, KeyError, RuntimeError, NotImplementedError):
            continue
    if atoms is None:
        raise ExportError(f'ASE knows no crystal structure of {element} to build the example structure from')
    repeat = [1, 1, 1]
    while len(atoms) * repeat[0] * repeat[1] * repeat[2] < min_atoms:
        lengths = [length * count for length, count in zip(atoms.cell.lengths(), repeat)]
        repeat[lengths.index(min(lengths))] += 1
    return atoms.repeat(repeat)


def _float(value: float) -> str:
    return repr(float(value))


def lammps_input(
    pair_lines: list[str],
    elements: list[str],
    reference_energies: dict[str, float],
    data_file: str = 'example.data',
    steps: int = EXAMPLE_MD['steps'],
    temperature: float = EXAMPLE_MD['temperature'],
    timestep_fs: float = EXAMPLE_MD['timestep_fs'],
    seed: int = EXAMPLE_MD['seed'],
    gamma_upper: float | None = None,
    gamma_every: int = 10,
) -> str:
    """Return a LAMMPS input running ``steps`` NVT steps of ``data_file`` with the potential.

    ``pair_lines`` are the potential's ``pair_style``/``pair_coeff`` lines (plain ``pace``, or
    ``pace/extrapolation``, which adds the largest extrapolation grade per ``gamma_every`` steps
    as the thermo column ``v_max_gamma`` and halts cleanly above ``gamma_upper``). Atom type ``i``
    is ``elements[i - 1]``. The thermo column ``v_e_total`` is ``pe`` plus the per-element
    reference energies: the labeller's total energy (eV).
    """
    extrapolation = any(line.split()[:2] == ['pair_style', 'pace/extrapolation'] for line in pair_lines)
    terms = reference_terms(reference_energies, elements)
    every = gamma_every if extrapolation else 10
    if steps % every:
        raise ValueError(f'steps ({steps}) must be a multiple of {every}')
    groups = [f'group el_{element} type {index + 1}' for index, element in enumerate(elements)]
    reference = ' + '.join(f'count(el_{element})*({_float(terms[element])})' for element in elements)
    lines = [
        f'# {steps} steps of NVT MD at {temperature:g} K with the exported ACE potential (mlip-autopipe export).',
        '# Run in this folder: lmp -in ' + ('in.extrapolation.lammps' if extrapolation else 'in.lammps'),
        '# Needs LAMMPS built with ML-PACE (pair_style pace); metal units: eV, A, ps, bar.',
        'units metal',
        'atom_style atomic',
        'boundary p p p',
        f'read_data {data_file}',
        '',
        *pair_lines,
        '',
        '# The potential predicts energies relative to per-element reference energies that pacemaker',
        '# subtracted from the labels (potential.yaml, metadata `reference_energy`). pe is that relative',
        "# energy; v_e_total adds them back: the labeller's (e.g. DFT) total energy in eV. Forces, stress",
        '# and pressure need no correction.',
        *groups,
        f'variable e_ref equal "{reference}"',
        'variable e_total equal pe+v_e_ref',
        '',
        'neighbor 1.0 bin',
        'neigh_modify every 1 delay 0 check yes',
        f'timestep {timestep_fs / 1000:g}',
        f'velocity all create {temperature:g} {seed} dist gaussian mom yes rot yes',
        f'fix md all nvt temp {temperature:g} {temperature:g} {100 * timestep_fs / 1000:g}',
    ]
    columns = 'step temp pe v_e_total press'
    if extrapolation:
        gamma_upper = DEFAULT_GAMMA_UPPER if gamma_upper is None else gamma_upper
        lines += [
            '',
            '# Extrapolation grade gamma of every atom each N steps (plain pace on the other steps);',
            '# gamma < 1: interpolation, 1-2: safe extrapolation, well above 2: the potential is guessing.',
            f'fix pace_gamma all pair {every} pace/extrapolation gamma 1',
            'compute max_gamma all reduce max f_pace_gamma',
            'variable max_gamma equal c_max_gamma',
            f'# stop cleanly (exit 0) when the largest gamma exceeds {gamma_upper:g}',
            f'fix halt_gamma all halt {every} v_max_gamma > {gamma_upper:g} error soft',
            f'# to keep the uncertain frames: dump high all custom {every} high_gamma.dump id type x y z f_pace_gamma',
        ]
        columns += ' v_max_gamma'
    lines += [
        '',
        f'thermo {every}',
        f'thermo_style custom {columns}',
        'thermo_modify norm no format float %.10g',
        f'run {steps}',
    ]
    return '\n'.join(lines) + '\n'


def ase_script(
    reference_energies: dict[str, float],
    elements: list[str],
    structure_file: str = 'example.extxyz',
    active_set: bool = True,
) -> str:
    """Return a Python script printing the labeller-scale energy of a structure with pyace's ASE calculator.

    The per-element reference energies are written into the script and added to pyace's energy;
    with ``active_set`` (and ``potential.asi`` present) it also prints the largest gamma.
    """
    terms = reference_terms(reference_energies, elements)
    reference = {key: float(value) for key, value in sorted(reference_energies.items()) if key != 'shift'}
    shift = float(reference_energies.get('shift', 0.0))
    return f'''"""Energy of a structure with the exported ACE potential in ASE (written by mlip-autopipe export).

Run in this folder:  python use_with_ase.py [structure file, default {structure_file}]
Needs ase and pyace (pip install python-ace).
"""

import sys
from pathlib import Path

import ase.io
from pyace import PyACECalculator

HERE = Path(__file__).resolve().parent

# The potential predicts energies RELATIVE to per-element reference energies that pacemaker
# subtracted from the labels before fitting: E_fit = E - sum_i REFERENCE[element_i] + SHIFT * N
# (the same numbers are in potential.yaml, metadata `reference_energy`). The script adds them back,
# so it prints the labeller's (e.g. DFT) total energy. Forces and stress need no correction.
REFERENCE = {reference!r}  # eV per atom
SHIFT = {shift!r}  # eV per atom
# i.e. per atom of each element: {', '.join(f'{element} {value:+.6f} eV' for element, value in terms.items())}

# The active set (potential.asi) gives each atom's extrapolation grade gamma (>> 1: the potential
# is guessing); set this to False to skip it (a little faster).
USE_ACTIVE_SET = {bool(active_set)!r}


def reference_energy(symbols):
    """Energy (eV) to add to the potential's energy of atoms with these chemical symbols."""
    return sum(REFERENCE.get(symbol, 0.0) - SHIFT for symbol in symbols)


def main(path):
    atoms = ase.io.read(path)
    calculator = PyACECalculator(str(HERE / 'potential.yaml'))
    if USE_ACTIVE_SET and (HERE / 'potential.asi').is_file():
        calculator.set_active_set(str(HERE / 'potential.asi'))
    atoms.calc = calculator
    fitted = atoms.get_potential_energy()  # relative to the reference energies
    total = fitted + reference_energy(atoms.get_chemical_symbols())
    print(f'structure: {{path}} ({{atoms.get_chemical_formula()}}, {{len(atoms)}} atoms)')
    print(f'total energy: {{total:.10f}} eV ({{total / len(atoms):.10f}} eV/atom, labeller scale)')
    print(f'energy relative to the reference energies: {{fitted:.10f}} eV')
    print(f'largest force: {{abs(atoms.get_forces()).max():.6f}} eV/A')
    if 'gamma' in calculator.results:
        print(f'largest extrapolation grade gamma: {{max(calculator.results["gamma"]):.4f}}')


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else HERE / {structure_file!r})
'''


def yaml_reference_energies(yaml_text: str) -> dict[str, float]:
    """Return the reference energies pacemaker wrote into a B-basis YAML (``metadata: reference_energy``).

    Read from the file rather than the node's attribute, which AiiDA keeps to 14 significant digits.
    """
    content = yaml.safe_load(yaml_text) or {}
    reference = (content.get('metadata') or {}).get('reference_energy') or {}
    if isinstance(reference, str):
        reference = json.loads(reference)
    return {key: float(value) for key, value in sorted(reference.items())}


def potential_versions(yaml_text: str) -> dict[str, str]:
    """Return the code versions pacemaker wrote into a B-basis YAML's metadata (``*_version`` keys)."""
    content = yaml.safe_load(yaml_text) or {}
    metadata = content.get('metadata') or {}
    return {key: str(value) for key, value in sorted(metadata.items()) if key.endswith('_version')}


def lammps_version(log_text: str) -> str | None:
    """Return the LAMMPS version from the first line of a log (``LAMMPS (4 Feb 2025 - ...)``), or None."""
    match = re.search(r'^LAMMPS \(([^)]*)\)', log_text, flags=re.MULTILINE)
    return match.group(1).strip() if match else None


def readme_text(written: list[str], title: str, notes: list[str] = ()) -> str:
    """Return the README: ``title``, what each file of ``written`` is, how to use them, ``notes``."""
    width = max(len(name) for name in written)
    lines = [title, '=' * len(title), '', 'Files:']
    lines += [f'  {name:<{width}}  {FILES[name]}' for name in FILES if name in written]
    lines += [
        '',
        'Use:',
        '  LAMMPS (built with ML-PACE):  lmp -in in.lammps',
        '  ASE (pip install python-ace): python use_with_ase.py [structure file]',
        '  Both print energies on the labeller scale: the potential itself predicts energies relative',
        '  to per-element reference energies, which in.lammps (column v_e_total) and use_with_ase.py add',
        '  back (the numbers are in metadata.json, `potential.reference_energies`).',
        '  To use another structure in LAMMPS, replace example.data (atom type i = i-th element on the',
        '  pair_coeff line).',
    ]
    if notes:
        lines += ['', 'Notes:'] + [f'  {note}' for note in notes]
    return '\n'.join(lines) + '\n'


@dataclass
class ExportContent:
    """What :func:`write_export` writes (plain values and nodes; nothing is queried).

    ``potential`` is an ``AcePotential`` (stored or not); ``training_set`` and ``held_out_set``
    are ``TrainingSet`` nodes or None; ``validation`` the validation report dict, ``rows`` the
    campaign's iteration rows; ``metadata`` goes to ``metadata.json`` as it is (file names added).
    """

    potential: object
    example_element: str
    training_set: object | None = None
    held_out_set: object | None = None
    validation: dict | None = None
    rows: list[dict] | None = None
    metadata: dict = field(default_factory=dict)
    temperature: float = EXAMPLE_MD['temperature']
    timestep_fs: float = EXAMPLE_MD['timestep_fs']
    gamma_upper: float | None = None
    title: str = 'ACE potential exported by mlip-autopipe'
    notes: list[str] = field(default_factory=list)


def prepare_folder(folder: Path, force: bool) -> None:
    """Create ``folder``; refuse an existing non-empty one unless ``force`` (then drop the export's own files)."""
    if folder.exists() and not folder.is_dir():
        raise ExportError(f'{folder} exists and is not a folder')
    if folder.is_dir() and any(folder.iterdir()):
        if not force:
            raise ExportError(
                f'folder {folder} exists and is not empty; give an empty or new folder, or --force to write '
                'into it (files of the same names as the export are replaced)'
            )
        for name in FILES:
            if (folder / name).is_file():
                (folder / name).unlink()
    folder.mkdir(parents=True, exist_ok=True)


def write_export(folder, content: ExportContent) -> list[str]:
    """Write the export of ``content`` into ``folder`` (which must exist); return the file names written."""
    import ase.io

    from ..exploration.inputs import write_data_file
    from ..validation.report import format_validation_table
    from .status import format_table

    folder = Path(folder)
    potential = content.potential
    elements = list(potential.elements)
    reference = yaml_reference_energies(potential.get_content('yaml').decode())
    written = [path.name for path in potential.write_files(folder).values()]
    if potential.has_file('yace'):
        pair_lines = potential.lammps_pair_lines()
    else:  # an interim fit: `pair_style pace` converts the B-basis YAML itself
        pair_lines = ['pair_style pace', f'pair_coeff * * potential.yaml {" ".join(elements)}']

    atoms = example_structure(content.example_element)
    (folder / 'example.data').write_text(write_data_file(atoms, elements))
    ase.io.write(folder / 'example.extxyz', atoms, format='extxyz')
    md = {'temperature': content.temperature, 'timestep_fs': content.timestep_fs}
    (folder / 'in.lammps').write_text(lammps_input(pair_lines, elements, reference, **md))
    written += ['example.data', 'example.extxyz', 'in.lammps']
    if potential.has_file('asi'):
        text = lammps_input(
            potential.lammps_pair_lines(extrapolation=True), elements, reference, gamma_upper=content.gamma_upper, **md
        )
        (folder / 'in.extrapolation.lammps').write_text(text)
        written.append('in.extrapolation.lammps')
    (folder / 'use_with_ase.py').write_text(ase_script(reference, elements, active_set=potential.has_file('asi')))
    written.append('use_with_ase.py')

    for name, node in (('training_set', content.training_set), ('held_out_set', content.held_out_set)):
        if node is not None:
            node.to_extxyz(folder / f'{name}.extxyz')
            written.append(f'{name}.extxyz')
    if content.validation is not None:
        (folder / 'validation.txt').write_text(format_validation_table(content.validation) + '\n')
        (folder / 'validation.json').write_text(json.dumps(content.validation, indent=2, default=str) + '\n')
        written += ['validation.txt', 'validation.json']
    if content.rows:
        (folder / 'iterations.txt').write_text(format_table(content.rows) + '\n')
        written.append('iterations.txt')

    metadata = dict(content.metadata)
    metadata['example_structure'] = {
        'files': ['example.data', 'example.extxyz'],
        'formula': atoms.get_chemical_formula(),
        'atoms': len(atoms),
        'built_from': f"ASE's reference crystal of {content.example_element}, repeated",
    }
    metadata['files'] = sorted([*written, 'metadata.json', 'README.txt'])
    (folder / 'metadata.json').write_text(json.dumps(metadata, indent=2, default=str) + '\n')
    written.append('metadata.json')
    notes = list(content.notes)
    if not potential.has_file('yace'):
        notes.append('No potential.yace (an interim fit?): in.lammps gives `pair_style pace` the B-basis YAML.')
    if not potential.has_file('asi'):
        notes.append('No active set (potential.asi): no extrapolation grade, no in.extrapolation.lammps.')
    (folder / 'README.txt').write_text(readme_text([*written, 'README.txt'], content.title, notes))
    written.append('README.txt')
    return written


# -- AiiDA glue --------------------------------------------------------------------------------------


def _node_summary(node) -> dict:
    return {'pk': node.pk, 'uuid': node.uuid, 'type': type(node).__name__}


def _code_summary(code) -> dict:
    summary = {'label': code.full_label, 'uuid': code.uuid, 'plugin': code.default_calc_job_plugin}
    executable = getattr(code, 'filepath_executable', None)
    if executable is not None:
        summary['executable'] = str(executable)
    return summary


def find_called(node, process_types: set[str]) -> dict:
    """Return the most recent finished-ok calculation of each of ``process_types`` called under ``node``.

    Walks CALL links breadth-first through the work chains (nothing else is loaded).
    """
    from aiida import orm

    found: dict = {}
    queue = deque(node.called)
    while queue:
        child = queue.popleft()
        if child.process_type in process_types and child.is_finished_ok:
            best = found.get(child.process_type)
            if best is None or child.ctime > best.ctime:
                found[child.process_type] = child
        if isinstance(child, orm.WorkChainNode):
            queue.extend(child.called)
    return found


def _lammps_log_version(calculation) -> str | None:
    from ..exploration.inputs import LOG_NAME

    try:
        return lammps_version(calculation.outputs.retrieved.base.repository.get_object_content(LOG_NAME))
    except (AttributeError, FileNotFoundError, OSError):
        return None


def labeller_metadata(calculation, config: dict) -> dict:
    """Return the QE labeller's settings: pseudopotentials (file, md5), cutoffs, protocol, pw.x version.

    ``calculation`` is a finished ``PwCalculation`` of the campaign (its inputs name the
    pseudopotentials and cutoffs actually used) or None (then the family's files are listed);
    ``config`` the campaign file as a dict (``elements`` and ``dft``).
    """
    dft = config.get('dft') or {}
    result = {
        'protocol': dft.get('protocol'),
        'overrides': dft.get('overrides') or {},
        'pseudo_family': dft.get('pseudo_family'),
    }
    if dft.get('pseudo_family'):
        try:
            from ..pseudos import PROTOCOL_STRINGENCY, load_family

            family = load_family(dft['pseudo_family'])
            result['pseudo_family_uuid'] = family.uuid
            stringency = PROTOCOL_STRINGENCY.get(dft.get('protocol'), None)
            wfc, rho = family.get_recommended_cutoffs(
                elements=tuple(config['elements']), stringency=stringency, unit='Ry'
            )
            result['family_recommended_cutoffs_ry'] = {'stringency': stringency, 'ecutwfc': wfc, 'ecutrho': rho}
            if calculation is None:
                result['pseudopotentials'] = {
                    element: _pseudo_summary(family.get_pseudo(element)) for element in config['elements']
                }
                result['pseudopotentials_from'] = f'family {family.label} (no pw.x calculation found)'
        except ValueError as exception:
            result['pseudo_family_error'] = str(exception)
    if calculation is not None:
        pseudos = calculation.inputs.pseudos
        result['pseudopotentials'] = {kind: _pseudo_summary(pseudos[kind]) for kind in sorted(pseudos)}
        result['pseudopotentials_from'] = f'inputs of PwCalculation {calculation.uuid}'
        system = calculation.inputs.parameters.get_dict().get('SYSTEM', {})
        result['cutoffs_ry'] = {key: system.get(key) for key in ('ecutwfc', 'ecutrho')}
        result['smearing'] = {key: system[key] for key in ('occupations', 'smearing', 'degauss') if key in system}
        if 'output_parameters' in calculation.outputs:
            output = calculation.outputs.output_parameters.get_dict()
            result['pw_version'] = output.get('creator_version') or output.get('code_version')
    return result


def _pseudo_summary(pseudo) -> dict:
    return {'filename': pseudo.filename, 'md5': pseudo.md5, 'element': pseudo.element, 'uuid': pseudo.uuid}


def pseudo_metadata(family_label: str, elements: list[str], protocol: str | None = None) -> dict:
    """Return element -> pseudopotential file name and md5 of family ``family_label`` plus its cutoffs."""
    return labeller_metadata(None, {'elements': elements, 'dft': {'pseudo_family': family_label, 'protocol': protocol}})


def _base_metadata(source: str, node) -> dict:
    import aiida
    from aiida.manage import get_manager

    from .. import __version__

    return {
        'format': 'mlip-autopipe export 1',
        'exported_at': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'exported_from': {'kind': source, 'pk': node.pk, 'uuid': node.uuid},
        'aiida_profile': get_manager().get_profile().name,
        'software': {'aiida-mlip-autopipe': __version__, 'aiida-core': aiida.__version__},
    }


def _potential_metadata(potential) -> dict:
    return {
        'uuid': potential.uuid,
        'pk': potential.pk,
        'sha256': potential.sha256,
        'elements': potential.elements,
        'cutoff_angstrom': potential.cutoff,
        'number_of_functions': potential.number_of_functions,
        'reference_energies': yaml_reference_energies(potential.get_content('yaml').decode()),
        'reference_energies_note': 'eV per atom of each element, and `shift`; the potential predicts '
        'E - sum_i reference[element_i] + shift * N (add them back for the labeller total energy)',
        'versions_in_yaml': potential_versions(potential.get_content('yaml').decode()),
    }


def _set_summary(node) -> dict | None:
    if node is None:
        return None
    return {'uuid': node.uuid, 'pk': node.pk, 'count': node.count, 'elements': node.elements, 'sha256': node.sha256}


def _codes(potential, calculations: dict) -> dict:
    codes = {}
    creator = potential.creator
    if creator is not None and creator.process_type == PACEMAKER_PROCESS_TYPE and 'code' in creator.inputs:
        codes['pacemaker'] = _code_summary(creator.inputs.code)
        codes['pacemaker']['fit_calculation'] = creator.uuid
    versions = potential_versions(potential.get_content('yaml').decode())
    codes.setdefault('pacemaker', {})['version'] = versions.get('pacemaker_version')
    lammps = calculations.get(LAMMPS_PROCESS_TYPE)
    if lammps is not None:
        codes['lmp'] = _code_summary(lammps.inputs.code) if 'code' in lammps.inputs else {}
        codes['lmp']['version'] = _lammps_log_version(lammps)
        codes['lmp']['calculation'] = lammps.uuid
    pw = calculations.get(PW_PROCESS_TYPE)
    if pw is not None:
        codes['pw'] = _code_summary(pw.inputs.code) if 'code' in pw.inputs else {}
        if 'output_parameters' in pw.outputs:
            codes['pw']['version'] = pw.outputs.output_parameters.get('creator_version')
        codes['pw']['calculation'] = pw.uuid
    return codes


def _lammps_calculations_of(potential) -> dict:
    """Return the latest finished LAMMPS calculation that used ``potential`` (a version source)."""
    from aiida import orm

    runs = []
    for link in potential.base.links.get_outgoing(node_class=orm.ProcessNode).all():
        node = link.node
        if node.process_type == LEGACY_LAMMPS_PROCESS_TYPE:
            runs.append(node)
        elif node.process_type == LAMMPS_MD_PROCESS_TYPE:
            runs += [child for child in node.called if child.process_type == LAMMPS_PROCESS_TYPE]
    runs = [node for node in runs if node.is_finished_ok]
    return {LAMMPS_PROCESS_TYPE: max(runs, key=lambda node: node.ctime)} if runs else {}


def _campaign_content(node) -> ExportContent:
    from ..data import AcePotential
    from .config import CampaignError, campaign_from_dict

    if 'potential' not in node.outputs:
        iterations = node.outputs.iterations if 'iterations' in node.outputs else {}
        fitted = [
            f'{key}: AcePotential<{namespace["potential"].pk}>'
            for key, namespace in sorted(iterations.items())
            if 'potential' in namespace
        ]
        state = node.process_state.value if node.process_state else 'unknown'
        hint = f'; export one of its iteration potentials by pk instead ({", ".join(fitted)})' if fitted else ''
        raise ExportError(
            f'campaign {node.pk} has no `potential` output (state {state}, exit status {node.exit_status}){hint}'
        )
    potential = node.outputs.potential
    if not isinstance(potential, AcePotential):
        raise ExportError(
            f'the `potential` output of campaign {node.pk} is a {type(potential).__name__}, not an AcePotential'
        )

    stored = node.inputs.campaign.get_dict()
    try:
        config = campaign_from_dict(stored).model_dump(mode='json')
    except CampaignError as exception:
        LOGGER.warning('the campaign input no longer validates (%s); using it as stored', exception)
        config = stored
    training_set = node.outputs.training_set if 'training_set' in node.outputs else None
    held_out = node.outputs.held_out_set if 'held_out_set' in node.outputs else None
    summary = node.outputs.summary.get_dict() if 'summary' in node.outputs else None
    validation = node.outputs.validation.get_dict() if 'validation' in node.outputs else None

    calculations = find_called(node, {PW_PROCESS_TYPE, LAMMPS_PROCESS_TYPE, LEGACY_LAMMPS_PROCESS_TYPE})
    legacy = calculations.pop(LEGACY_LAMMPS_PROCESS_TYPE, None)
    if legacy is not None:
        calculations.setdefault(LAMMPS_PROCESS_TYPE, legacy)
    calculations = {**_lammps_calculations_of(potential), **calculations}
    labeller = config.get('labeller')
    metadata = _base_metadata('campaign', node)
    metadata['campaign'] = {
        'name': config.get('name'),
        'uuid': node.uuid,
        'pk': node.pk,
        'label': node.label,
        'process_state': node.process_state.value if node.process_state else None,
        'exit_status': node.exit_status,
        'exit_message': node.exit_message,
        'input_uuid': node.inputs.campaign.uuid,
        'input': stored,
    }
    if config != stored:  # launch_campaign stores the resolved file; a hand-made input may leave fields out
        metadata['campaign']['resolved'] = config
    metadata['labeller'] = {'name': labeller}
    if labeller == 'qe':
        metadata['labeller'].update(labeller_metadata(calculations.get(PW_PROCESS_TYPE), config))
    metadata['codes'] = _codes(potential, calculations)
    metadata['codes_in_campaign_file'] = config.get('codes')
    metadata['potential'] = _potential_metadata(potential)
    metadata['training_set'] = _set_summary(training_set)
    metadata['held_out_set'] = _set_summary(held_out)
    metadata['summary'] = summary
    if summary is not None:
        metadata['summary_uuid'] = node.outputs.summary.uuid
    if validation is not None:
        metadata['validation'] = {
            'uuid': node.outputs.validation.uuid,
            'passed': validation.get('passed'),
            'failed': validation.get('failed'),
        }
    notes = []
    if held_out is None:
        notes.append('The campaign has no held-out set output: held_out_set.extxyz is not written.')
    if validation is None:
        notes.append('The campaign has no validation output: validation.txt/.json are not written.')
    if node.exit_status:
        notes.append(f'The campaign ended with exit status {node.exit_status}: {node.exit_message}')
    exploration = config.get('exploration') or {}
    temperature = config.get('temperature') or {}
    elements = config.get('elements') or potential.elements
    return ExportContent(
        potential=potential,
        example_element=elements[0],
        training_set=training_set,
        held_out_set=held_out,
        validation=validation,
        rows=(summary or {}).get('iterations'),
        metadata=metadata,
        temperature=float(temperature.get('min', EXAMPLE_MD['temperature'])),
        timestep_fs=float(exploration.get('timestep_fs', EXAMPLE_MD['timestep_fs'])),
        gamma_upper=exploration.get('gamma_upper'),
        title=f'ACE potential of campaign `{config.get("name")}` ({", ".join(elements)}), exported by mlip-autopipe',
        notes=notes,
    )


def _potential_content(potential) -> ExportContent:
    from aiida import orm
    from aiida.common.links import LinkType

    creator = potential.creator
    training_set = None
    if creator is not None and creator.process_type == PACEMAKER_PROCESS_TYPE and 'training_set' in creator.inputs:
        training_set = creator.inputs.training_set
    campaigns = [
        {'pk': link.node.pk, 'uuid': link.node.uuid, 'label': link.node.label, 'output': link.link_label}
        for link in potential.base.links.get_incoming(node_class=orm.WorkflowNode, link_type=LinkType.RETURN).all()
        if link.node.process_type == CAMPAIGN_PROCESS_TYPE
    ]
    validation = None
    validations = [
        link.node
        for link in potential.base.links.get_outgoing(node_class=orm.WorkflowNode).all()
        if link.node.process_type == VALIDATION_PROCESS_TYPE and 'report' in link.node.outputs
    ]
    if validations:
        latest = max(validations, key=lambda node: node.ctime)
        validation = latest.outputs.report.get_dict()
    metadata = _base_metadata('potential', potential)
    metadata['potential'] = _potential_metadata(potential)
    metadata['fit'] = _node_summary(creator) if creator is not None else None
    metadata['campaigns'] = campaigns
    metadata['codes'] = _codes(potential, _lammps_calculations_of(potential))
    metadata['training_set'] = _set_summary(training_set)
    if validation is not None:
        metadata['validation'] = {
            'uuid': latest.outputs.report.uuid,
            'workchain': latest.uuid,
            'passed': validation.get('passed'),
            'failed': validation.get('failed'),
        }
    notes = ['Exported from a potential node: campaign settings and the iteration table are not included.']
    if campaigns:
        notes.append('Campaigns that output it: ' + ', '.join(f'{c["pk"]} ({c["output"]})' for c in campaigns))
    if training_set is None:
        notes.append('The potential was not made by a PacemakerCalculation here: no training set to write.')
    return ExportContent(
        potential=potential,
        example_element=potential.elements[0],
        training_set=training_set,
        validation=validation,
        metadata=metadata,
        title=f'ACE potential {potential.uuid} ({", ".join(potential.elements)}), exported by mlip-autopipe',
        notes=notes,
    )


def export_source(node) -> ExportContent:
    """Return what to export from a campaign (``ActiveLearningWorkChain``) or ``AcePotential`` node.

    Raises :class:`ExportError` for any other node and for a campaign without a ``potential`` output.
    """
    from aiida import orm

    from ..data import AcePotential

    if isinstance(node, AcePotential):
        return _potential_content(node)
    if isinstance(node, orm.WorkflowNode) and node.process_type == CAMPAIGN_PROCESS_TYPE:
        return _campaign_content(node)
    kind = node.process_label if isinstance(node, orm.ProcessNode) else type(node).__name__
    raise ExportError(
        f'node {node.pk} is a {kind}; give the pk of an ActiveLearningWorkChain (a campaign) or of an AcePotential'
    )


def export_node(node, folder, force: bool = False) -> list[str]:
    """Export campaign or potential ``node`` into ``folder``; return the file names written.

    A non-empty ``folder`` is refused unless ``force`` (files of the export's names are replaced).
    """
    content = export_source(node)
    folder = Path(folder)
    prepare_folder(folder, force)
    return write_export(folder, content)
