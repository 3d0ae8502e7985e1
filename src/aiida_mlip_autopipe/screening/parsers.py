"""``SurrogateParser``: the surrogate's ``results.json`` into labels, descriptors and a summary."""

from __future__ import annotations

import logging

import numpy as np
from aiida import orm
from aiida.engine import ExitCode
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ..common.json_job import JsonResultsParser
from ..data import TrainingSet
from .calculations import RESULTS_NAME

LOGGER = logging.getLogger(__name__)


def atoms_from_entry(geometry: dict, labels: dict, key: str, source: str) -> Atoms:
    """Return ASE atoms of one structure carrying the surrogate's ``labels`` on a single-point calculator."""
    atoms = Atoms(
        numbers=geometry['numbers'], positions=geometry['positions'], cell=geometry['cell'], pbc=geometry['pbc']
    )
    results = {
        'energy': float(labels['energy']),
        'free_energy': float(labels['energy']),
        'forces': np.asarray(labels['forces'], dtype=float).reshape(len(atoms), 3),
    }
    if labels.get('stress') is not None:
        results['stress'] = np.asarray(labels['stress'], dtype=float).reshape(6)
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info['config_type'] = key
    atoms.info['source_uuid'] = source
    return atoms


def parse_results(results: dict, geometries: dict[str, dict]) -> dict:
    """Turn the surrogate's results into frames, descriptors and a summary (pure; raises on bad content).

    Parameters
    ----------
    results
        The content of ``results.json``.
    geometries
        Input geometry by key (``numbers``, ``positions``, ``cell``, ``pbc``).

    Returns
    -------
    dict
        ``initial`` and ``final`` (key -> labelled atoms; ``final`` empty without relaxation),
        ``descriptors`` (key -> 1-d array, of the final geometry when relaxing), ``failed``
        (key -> message), ``missing`` (keys without a result) and ``summary`` (for ``output_parameters``).
    """
    source = f'surrogate:{results["model"]}-{results["model_version"]}'
    entries = results['structures']
    missing = sorted(set(geometries) - set(entries))
    parsed = {'initial': {}, 'final': {}, 'descriptors': {}, 'failed': {}, 'missing': missing}
    per_structure = {}
    for key in sorted(geometries):
        entry = entries.get(key)
        if entry is None:
            continue
        if entry['status'] != 'ok':
            parsed['failed'][key] = entry.get('message', 'unknown failure')
            continue
        parsed['initial'][key] = atoms_from_entry(geometries[key], entry['initial'], key, source)
        descriptor = entry['initial']['descriptor']
        record = {'seconds': entry['seconds'], 'energy': entry['initial']['energy']}
        if 'cpu_seconds' in entry:
            record['cpu_seconds'] = entry['cpu_seconds']
        if 'final' in entry:
            geometry = dict(geometries[key], positions=entry['final']['positions'], cell=entry['final']['cell'])
            parsed['final'][key] = atoms_from_entry(geometry, entry['final'], key, source)
            descriptor = entry['final']['descriptor']
            record.update(relaxed_energy=entry['final']['energy'], steps=entry['steps'], converged=entry['converged'])
        parsed['descriptors'][key] = np.asarray(descriptor, dtype=float)
        per_structure[key] = record
    seconds = [record['seconds'] for record in per_structure.values()]
    cpu_seconds = [record['cpu_seconds'] for record in per_structure.values() if 'cpu_seconds' in record]
    parsed['summary'] = {
        'model': results['model'],
        'model_version': results['model_version'],
        'package_version': results.get('package_version'),
        'torch_version': results.get('torch_version'),
        'threads': results.get('threads'),
        'relax': results.get('relax', False),
        'load_seconds': results.get('load_seconds'),
        'total_seconds': results.get('total_seconds'),
        'seconds_per_structure': float(np.mean(seconds)) if seconds else None,
        'cpu_seconds_per_structure': float(np.mean(cpu_seconds)) if cpu_seconds else None,
        'evaluated': len(per_structure),
        'failed': parsed['failed'],
        'structures': per_structure,
    }
    return parsed


class SurrogateParser(JsonResultsParser):
    """Parse a ``SurrogateCalculation``; never raises, every failure is an exit code."""

    CACHE_VERSION = 2
    results_name = RESULTS_NAME

    def parse_results(self, results: dict, exit_codes) -> ExitCode:
        """Output labels, descriptors, relaxed structures and ``output_parameters`` from ``results.json``."""
        status = results['status']
        if status == 'input_error':
            return exit_codes.ERROR_INPUT_UNREADABLE.format(detail=results.get('message', ''))
        if status == 'model_error':
            return exit_codes.ERROR_MODEL_LOAD.format(detail=results.get('message', ''))

        geometries = {}
        for key, structure in self.node.inputs.structures.items():
            atoms = structure.get_ase()
            geometries[key] = {
                'numbers': atoms.numbers,
                'positions': atoms.positions,
                'cell': atoms.cell.array,
                'pbc': atoms.pbc,
            }
        try:
            parsed = parse_results(results, geometries)
        except (KeyError, TypeError, ValueError) as exception:
            return exit_codes.ERROR_INVALID_OUTPUT.format(detail=f'{type(exception).__name__}: {exception}')
        if parsed['missing']:
            return exit_codes.ERROR_STRUCTURES_MISSING.format(detail=', '.join(parsed['missing']))
        if not parsed['initial']:
            first = next(iter(sorted(parsed['failed'].items())), ('', 'no structures'))
            return exit_codes.ERROR_ALL_STRUCTURES_FAILED.format(detail=f'`{first[0]}`: {first[1]}')

        self.out('labels', TrainingSet(frames=[parsed['initial'][key] for key in sorted(parsed['initial'])]))
        descriptors = orm.ArrayData()
        for key, vector in sorted(parsed['descriptors'].items()):
            descriptors.set_array(key, vector)
        self.out('descriptors', descriptors)
        if parsed['final']:
            self.out('relaxed_labels', TrainingSet(frames=[parsed['final'][key] for key in sorted(parsed['final'])]))
            for key, atoms in sorted(parsed['final'].items()):
                self.out(f'relaxed_structures.{key}', orm.StructureData(ase=atoms))
        self.out('output_parameters', orm.Dict(parsed['summary']))
        if parsed['failed']:
            self.logger.warning(f'the surrogate failed on {len(parsed["failed"])} structures: {parsed["failed"]}')
        return ExitCode(0)
