"""Evaluate candidate structures with a pretrained universal potential; run inside the surrogate's venv.

This file is copied into the job's folder by ``SurrogateCalculation`` and run by the surrogate
code's own Python (torch and CHGNet live there, not in the plugin's environment). It imports
nothing of the plugin. Input: ``parameters.json`` and ``structures.json`` in the working
directory; output: ``results.json``. Exit status 0 when the model loaded (single structures may
still have failed: each carries its own status), 3 when the model could not be loaded, 2 when the
input files could not be read.
"""

import json
import os
import sys
import time
import traceback

RESULTS = 'results.json'


def _write(results):
    with open(RESULTS, 'w') as handle:
        json.dump(results, handle)


def _labels(atoms):
    """Return energy (eV), forces (eV/A), stress (eV/A^3, Voigt, ASE sign) and a descriptor.

    The descriptor is CHGNet's crystal feature (the sum of its atom features before the readout)
    divided by the number of atoms: a size-intensive vector, equal for a cell and its supercells.
    """
    energy = float(atoms.get_potential_energy())
    forces = atoms.get_forces()
    stress = atoms.get_stress(voigt=True) if all(atoms.pbc) else None
    feature = atoms.calc.results['crystal_fea'] / len(atoms)
    return {
        'energy': energy,
        'forces': forces.tolist(),
        'stress': None if stress is None else stress.tolist(),
        'descriptor': [float(value) for value in feature.ravel()],
    }


def _relax(atoms, parameters):
    """Relax ``atoms`` in place with FIRE; return the number of steps and whether it converged."""
    from ase.optimize import FIRE

    target = atoms
    if parameters.get('relax_cell', False):
        from ase.filters import FrechetCellFilter

        target = FrechetCellFilter(atoms)
    optimizer = FIRE(target, logfile=None)
    converged = bool(optimizer.run(fmax=parameters['fmax'], steps=parameters['steps']))
    return int(optimizer.nsteps), converged


def main():
    """Read the inputs, load the model once, evaluate (and optionally relax) each structure."""
    start = time.perf_counter()
    try:
        with open('parameters.json') as handle:
            parameters = json.load(handle)
        with open('structures.json') as handle:
            structures = json.load(handle)
    except (OSError, ValueError) as exception:
        _write({'status': 'input_error', 'message': f'{type(exception).__name__}: {exception}'})
        return 2

    threads = parameters.get('threads')
    try:
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        from ase import Atoms
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        model_file = parameters.get('model_file')
        if model_file:
            model = CHGNet.from_file(model_file)
        else:
            model = CHGNet.load(model_name=parameters.get('model_name', '0.3.0'), verbose=False, use_device='cpu')
        calculator = CHGNetCalculator(model=model, use_device='cpu', on_isolated_atoms='ignore')
    except Exception as exception:
        _write(
            {
                'status': 'model_error',
                'message': f'{type(exception).__name__}: {exception}',
                'traceback': traceback.format_exc(),
            }
        )
        return 3

    import chgnet

    results = {
        'status': 'ok',
        'model': 'chgnet',
        'model_version': str(model.version),
        'package_version': chgnet.__version__,
        'torch_version': torch.__version__,
        'threads': torch.get_num_threads(),
        'load_seconds': time.perf_counter() - start,
        'relax': bool(parameters.get('relax', False)),
        'structures': {},
    }
    for item in structures:
        key = item['key']
        tick, cpu_tick = time.perf_counter(), time.process_time()
        entry = {}
        try:
            atoms = Atoms(numbers=item['numbers'], positions=item['positions'], cell=item['cell'], pbc=item['pbc'])
            atoms.calc = calculator
            entry['initial'] = _labels(atoms)
            if results['relax']:
                steps, converged = _relax(atoms, parameters)
                entry['steps'], entry['converged'] = steps, converged
                entry['final'] = _labels(atoms)
                entry['final']['positions'] = atoms.positions.tolist()
                entry['final']['cell'] = atoms.cell.array.tolist()
            entry['status'] = 'ok'
        except Exception as exception:
            entry = {'status': 'failed', 'message': f'{type(exception).__name__}: {exception}'}
        entry['seconds'] = time.perf_counter() - tick
        entry['cpu_seconds'] = time.process_time() - cpu_tick
        results['structures'][key] = entry
        print(f'{key}: {entry["status"]} in {entry["seconds"]:.3f} s', flush=True)
    results['total_seconds'] = time.perf_counter() - start
    _write(results)
    return 0


if __name__ == '__main__':
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    sys.exit(main())
