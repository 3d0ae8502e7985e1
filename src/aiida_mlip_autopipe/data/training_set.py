"""``TrainingSet``: many labelled configurations of mixed size and species in one node.

The configurations are stored column-wise as ``.npy`` files in the node's repository (atoms of all
configurations concatenated, plus per-configuration arrays), which are written deterministically,
so identical content gives identical files, attributes and node hash.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator

import numpy as np
from aiida import orm
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

__all__ = ('TrainingSet', 'fingerprint')

#: Repository file name (without ``.npy``) -> dtype. Per-atom arrays come first.
ARRAY_DTYPES = {
    'numbers': np.int32,
    'positions': np.float64,
    'forces': np.float64,
    'natoms': np.int64,
    'cells': np.float64,
    'pbc': np.bool_,
    'energies': np.float64,
    'stresses': np.float64,
    'sources': np.str_,
    'config_types': np.str_,
}
POSITION_DECIMALS = 4


def fingerprint(numbers, positions, cell, pbc) -> str:
    """Return a hash identifying a configuration: species, positions and cell rounded to 1e-4 A."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(numbers, dtype=np.int32).tobytes())
    for values in (positions, cell):
        rounded = np.round(np.asarray(values, dtype=np.float64), POSITION_DECIMALS) + 0.0  # no -0.0
        digest.update(rounded.tobytes())
    digest.update(np.asarray(pbc, dtype=np.bool_).tobytes())
    return digest.hexdigest()


def _label(atoms: Atoms, name: str, shape: tuple[int, ...]):
    """Return a label (energy, forces, stress) of ``atoms``' calculator, or NaN where it has none."""
    calc = atoms.calc
    if calc is not None and name in getattr(calc, 'results', {}):
        value = np.asarray(calc.results[name], dtype=np.float64)
        if name == 'stress' and value.shape == (3, 3):
            value = value[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        return value.reshape(shape)
    return np.full(shape, np.nan)


def arrays_from_atoms(frames: Iterable[Atoms]) -> dict[str, np.ndarray]:
    """Return the column arrays of a ``TrainingSet`` for ASE ``frames``.

    Labels are read from each frame's calculator (``energy`` in eV, ``forces`` in eV/A, ``stress``
    in eV/A^3, Voigt order, ASE sign); missing labels are NaN. ``atoms.info['source_uuid']`` and
    ``atoms.info['config_type']`` are kept when present.
    """
    frames = list(frames)
    columns = {name: [] for name in ARRAY_DTYPES}
    for atoms in frames:
        natoms = len(atoms)
        columns['numbers'].append(atoms.numbers)
        columns['positions'].append(atoms.positions)
        columns['forces'].append(_label(atoms, 'forces', (natoms, 3)))
        columns['natoms'].append(natoms)
        columns['cells'].append(atoms.cell.array)
        columns['pbc'].append(atoms.pbc)
        columns['energies'].append(_label(atoms, 'energy', ()))
        columns['stresses'].append(_label(atoms, 'stress', (6,)))
        columns['sources'].append(str(atoms.info.get('source_uuid', '')))
        columns['config_types'].append(str(atoms.info.get('config_type', '')))
    arrays = {}
    for name, dtype in ARRAY_DTYPES.items():
        if name in ('numbers', 'positions', 'forces'):
            empty = np.zeros((0,) if name == 'numbers' else (0, 3))
            arrays[name] = np.concatenate(columns[name]).astype(dtype) if frames else empty.astype(dtype)
        else:
            arrays[name] = np.asarray(columns[name], dtype=dtype)
    if not frames:
        arrays['cells'] = np.zeros((0, 3, 3))
        arrays['pbc'] = np.zeros((0, 3), dtype=np.bool_)
        arrays['stresses'] = np.zeros((0, 6))
    return arrays


def atoms_from_arrays(arrays: dict[str, np.ndarray]) -> Iterator[Atoms]:
    """Yield ASE atoms with a single-point calculator for each configuration in ``arrays``."""
    offsets = np.concatenate([[0], np.cumsum(arrays['natoms'])])
    for index in range(len(arrays['natoms'])):
        start, stop = offsets[index], offsets[index + 1]
        atoms = Atoms(
            numbers=arrays['numbers'][start:stop],
            positions=arrays['positions'][start:stop],
            cell=arrays['cells'][index],
            pbc=arrays['pbc'][index],
        )
        results = {}
        if not np.isnan(arrays['energies'][index]):
            results['energy'] = float(arrays['energies'][index])
            results['free_energy'] = results['energy']
        forces = arrays['forces'][start:stop]
        if not np.isnan(forces).any():
            results['forces'] = forces.copy()
        if not np.isnan(arrays['stresses'][index]).any():
            results['stress'] = arrays['stresses'][index].copy()
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        if arrays['sources'][index]:
            atoms.info['source_uuid'] = str(arrays['sources'][index])
        if arrays['config_types'][index]:
            atoms.info['config_type'] = str(arrays['config_types'][index])
        yield atoms


class TrainingSet(orm.Data):
    """Labelled configurations (positions, cell, pbc, species, energy, forces, stress, source).

    Build it from ASE atoms, ``TrainingSet(frames=[...])``, or from arrays with
    :meth:`from_arrays`; iterate it as ASE atoms with :meth:`iter_atoms`. Attributes: ``count``
    (configurations), ``elements``, ``atom_count`` and ``sha256`` of the content.
    """

    def __init__(self, frames: Iterable[Atoms] | None = None, **kwargs):
        super().__init__(**kwargs)
        if frames is not None:
            self.set_arrays(arrays_from_atoms(frames))

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> TrainingSet:
        """Return an unstored set holding ``arrays`` (the layout of :func:`arrays_from_atoms`)."""
        node = cls()
        node.set_arrays(arrays)
        return node

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Store the column ``arrays`` in the repository and set the attributes."""
        missing = set(ARRAY_DTYPES) - set(arrays)
        if missing:
            raise ValueError(f'missing arrays: {", ".join(sorted(missing))}')
        natoms = np.asarray(arrays['natoms'])
        if int(natoms.sum()) != len(arrays['numbers']):
            raise ValueError('`natoms` does not add up to the length of the per-atom arrays')
        digest = hashlib.sha256()
        for name, dtype in ARRAY_DTYPES.items():
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(arrays[name], dtype=dtype), allow_pickle=False)
            digest.update(buffer.getvalue())
            buffer.seek(0)
            self.base.repository.put_object_from_filelike(buffer, f'{name}.npy')
        numbers = np.unique(arrays['numbers'])
        self.base.attributes.set('count', len(natoms))
        self.base.attributes.set('atom_count', int(natoms.sum()))
        self.base.attributes.set('elements', sorted(Atoms(numbers=numbers).get_chemical_symbols()))
        self.base.attributes.set('sha256', digest.hexdigest())

    @property
    def count(self) -> int:
        """Number of configurations."""
        return self.base.attributes.get('count')

    @property
    def elements(self) -> list[str]:
        """Chemical symbols present, sorted."""
        return self.base.attributes.get('elements')

    @property
    def atom_count(self) -> int:
        """Number of atoms over all configurations."""
        return self.base.attributes.get('atom_count')

    @property
    def sha256(self) -> str:
        """SHA-256 of the stored arrays."""
        return self.base.attributes.get('sha256')

    def __len__(self) -> int:
        return self.count

    def get_array(self, name: str) -> np.ndarray:
        """Return one column array, e.g. ``numbers``, without reading the others."""
        with self.base.repository.open(f'{name}.npy', 'rb') as handle:
            return np.load(handle, allow_pickle=False)

    def get_arrays(self) -> dict[str, np.ndarray]:
        """Return the column arrays (see :func:`arrays_from_atoms` for units and layout)."""
        return {name: self.get_array(name) for name in ARRAY_DTYPES}

    def iter_atoms(self) -> Iterator[Atoms]:
        """Yield each configuration as ASE atoms with its labels on a single-point calculator."""
        return atoms_from_arrays(self.get_arrays())

    def to_atoms(self) -> list[Atoms]:
        """Return all configurations as a list of ASE atoms."""
        return list(self.iter_atoms())

    def fingerprints(self) -> list[str]:
        """Return the :func:`fingerprint` of each configuration."""
        arrays = {name: self.get_array(name) for name in ('natoms', 'numbers', 'positions', 'cells', 'pbc')}
        offsets = np.concatenate([[0], np.cumsum(arrays['natoms'])])
        return [
            fingerprint(
                arrays['numbers'][offsets[i] : offsets[i + 1]],
                arrays['positions'][offsets[i] : offsets[i + 1]],
                arrays['cells'][i],
                arrays['pbc'][i],
            )
            for i in range(self.count)
        ]

    def merge(self, other: TrainingSet) -> TrainingSet:
        """Return a new unstored set with the configurations of both; duplicates are kept once.

        A configuration of ``other`` whose :func:`fingerprint` is already present (in ``self`` or
        earlier in ``other``) is dropped; the first occurrence, with its labels, is kept.
        """
        seen = set()
        frames = []
        for node in (self, other):
            for key, atoms in zip(node.fingerprints(), node.iter_atoms()):
                if key not in seen:
                    seen.add(key)
                    frames.append(atoms)
        return TrainingSet(frames=frames)

    def to_extxyz(self, path) -> None:
        """Write all configurations with their labels to an extended XYZ file."""
        import ase.io

        ase.io.write(path, self.to_atoms(), format='extxyz')

    def to_pacemaker_dataframe(self, reference_energies: dict[str, float] | None = None):
        """Return pacemaker's DataFrame: columns ``ase_atoms``, ``energy``, ``forces``, ``energy_corrected``.

        ``energy_corrected`` is the energy minus the sum of ``reference_energies`` (eV per atom of
        each element, e.g. isolated-atom energies); without them it equals ``energy``.
        """
        import pandas as pd

        reference_energies = reference_energies or {}
        rows = []
        for atoms in self.iter_atoms():
            energy = atoms.get_potential_energy()
            shift = sum(reference_energies.get(symbol, 0.0) for symbol in atoms.get_chemical_symbols())
            rows.append(
                {
                    'ase_atoms': atoms,
                    'energy': energy,
                    'forces': atoms.get_forces(),
                    'energy_corrected': energy - shift,
                }
            )
        return pd.DataFrame(rows, columns=['ase_atoms', 'energy', 'forces', 'energy_corrected'])

    def to_pacemaker_pickle(self, path, reference_energies: dict[str, float] | None = None) -> None:
        """Write :meth:`to_pacemaker_dataframe` as the gzipped pickle pacemaker reads."""
        self.to_pacemaker_dataframe(reference_energies).to_pickle(path, compression='gzip', protocol=4)
