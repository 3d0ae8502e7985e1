"""A linear ACE model on a fixed B-basis: the design matrix is computed once, each fit is a ridge solve.

With pacemaker's ``linear`` embedding (one density, ``FinnisSinclairShiftedScaled`` with exponent
1) the energy of an atom is ``sum_k c_k B_k``: linear in the coefficients. The rows of the design
matrix are the B-functions summed over a frame's atoms (its energy) and their gradients (its
forces), from pyace's calculator (``compute_projections``, ``compute_b_grad``), the same rows as
``pyace.linearacefit.LinearACEDataset``. The per-atom B-projections, which pace_activeset builds
the active set from and the extrapolation grade is computed on, come out of the same pass.

A fit adds the rows of the labelled frames to the normal equations and solves them with a ridge
penalty (:class:`RidgeFit`): deterministic, milliseconds, so thousands of fits cost nothing and
fit-to-fit noise is out of the comparison. The coefficients can be written into the B-basis YAML
(and the active set into an ``.asi``) so that LAMMPS runs the very model that was scored
(:func:`write_potential`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

#: MaxVol settings of pace_activeset and of the campaign's selection.
MAXVOL_TOLERANCE = 1.01
MAXVOL_ITERATIONS = 300


def linear_basis(elements, functions_per_element: int, cutoff: float = 5.0):
    """Return the ``BBasisConfiguration`` of a linear ACE basis as pacemaker would build it for a new fit."""
    from pyace.multispecies_basisextension import create_multispecies_basis_config

    from ..training.pacemaker_io import PacemakerParameters, pacemaker_input

    parameters = PacemakerParameters(
        number_of_functions_per_element=functions_per_element, embedding='linear', cutoff=cutoff
    )
    return create_multispecies_basis_config(pacemaker_input(parameters, elements)['potential'])


@dataclass
class Design:
    """Linear ACE rows of a list of labelled frames.

    ``energy_rows[i] @ c`` is frame ``i``'s energy (eV) and ``force_rows[offsets[i]:offsets[i+1]] @ c``
    its forces (x, y, z of each atom in turn); ``projections[t]`` are the per-atom B-projections of
    species type ``t`` and ``owners[t]`` the frame of each row.
    """

    energy_rows: np.ndarray
    natoms: np.ndarray
    energies: np.ndarray
    force_rows: np.ndarray
    forces: np.ndarray
    offsets: np.ndarray
    projections: dict[int, np.ndarray]
    owners: dict[int, np.ndarray]

    @property
    def size(self) -> int:
        return len(self.natoms)

    def frame_forces(self, index: int) -> slice:
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))


def compute_design(basis_config, frames: list[Atoms], with_forces: bool = True) -> Design:
    """Return the :class:`Design` of labelled ``frames`` (energy and forces) on the basis ``basis_config``."""
    from pyace import ACEBBasisSet, ACEBEvaluator, ACECalculator
    from pyace.atomicenvironment import aseatoms_to_atomicenvironment
    from pyace.linearacefit import compute_nfunc_func_ind_shift

    basis = ACEBBasisSet(basis_config)
    evaluator = ACEBEvaluator(basis)  # keep a reference: the calculator does not own it
    calculator = ACECalculator(evaluator)
    nfunc, shifts = compute_nfunc_func_ind_shift(basis)
    mapper = basis.elements_to_index_map
    energy_rows = np.zeros((len(frames), nfunc))
    natoms = np.array([len(atoms) for atoms in frames], dtype=int)
    offsets = np.concatenate([[0], np.cumsum(3 * natoms)]) if with_forces else np.zeros(len(frames) + 1, dtype=int)
    force_rows = np.zeros((int(offsets[-1]), nfunc))
    projections: dict[int, list] = {t: [] for t in mapper.values()}
    owners: dict[int, list] = {t: [] for t in mapper.values()}
    for index, atoms in enumerate(frames):
        environment = aseatoms_to_atomicenvironment(atoms, cutoff=basis.cutoffmax, elements_mapper_dict=mapper)
        calculator.compute(environment, compute_projections=True, compute_b_grad=with_forces)
        for species, row in zip(environment.species_type[: environment.n_atoms_real], calculator.projections):
            row = np.asarray(row)
            energy_rows[index, shifts[species] : shifts[species] + len(row)] += row
            projections[species].append(row)
            owners[species].append(index)
        if with_forces:
            gradients = np.asarray(calculator.forces_bfuncs)  # (atoms, functions, 3)
            force_rows[offsets[index] : offsets[index + 1]] = gradients.transpose(0, 2, 1).reshape(-1, nfunc)
    energies = np.array([atoms.get_potential_energy() for atoms in frames])
    forces = np.concatenate([atoms.get_forces().ravel() for atoms in frames]) if with_forces else np.zeros(0)
    widths = {t: nfunc_t for t, nfunc_t in zip(sorted(mapper.values()), _species_widths(basis))}
    return Design(
        energy_rows=energy_rows,
        natoms=natoms,
        energies=energies,
        force_rows=force_rows,
        forces=forces,
        offsets=offsets,
        projections={t: np.array(rows).reshape(-1, widths[t]) for t, rows in projections.items()},
        owners={t: np.asarray(rows, dtype=int) for t, rows in owners.items()},
    )


def _species_widths(basis) -> list[int]:
    return [len(rank1) + len(higher) for rank1, higher in zip(basis.basis_rank1, basis.basis)]


class RidgeFit:
    """Normal equations of a weighted ridge fit, grown frame by frame.

    Each frame contributes its force rows, the squared error of each atom's force components
    weighted by ``1 / (1 + |F| / force_scale)`` (``|F|`` its labelled force; pacemaker's
    energy-based weighting does the same with ``df``: a compressed contact with 10 eV/A forces
    must not outweigh a hundred ordinary atoms; ``force_scale`` 0 weighs every atom alike), and
    its energy per atom with weight ``sqrt(energy_weight * 3 N)``: an error of 1 meV/atom then
    costs as much as an error of ``sqrt(energy_weight)`` meV/A on every force component of the
    frame. The penalty is ``ridge`` times the mean diagonal of one pool frame's normal matrix
    (``scale``), per coefficient, i.e. a ridge on standardised coefficients. ``solve`` is deterministic.
    """

    def __init__(self, design: Design, energy_weight: float, ridge: float, scale: np.ndarray, force_scale: float = 1.0):
        self.design, self.energy_weight, self.ridge, self.scale = design, energy_weight, ridge, scale
        self.force_scale = force_scale
        n = design.energy_rows.shape[1]
        self.gram = np.zeros((n, n))
        self.rhs = np.zeros(n)
        self.frames: list[int] = []

    def rows(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """Return the weighted rows and targets of frames ``indices``."""
        d = self.design
        blocks, targets = [], []
        for i in indices:
            n = d.natoms[i]
            weight = np.sqrt(self.energy_weight * 3 * n) / n
            forces = d.forces[d.frame_forces(i)]
            if self.force_scale:
                norms = np.linalg.norm(forces.reshape(-1, 3), axis=1)
                atom = np.repeat(1.0 / np.sqrt(1.0 + norms / self.force_scale), 3)
            else:
                atom = np.ones(len(forces))
            blocks += [d.energy_rows[i : i + 1] * weight, d.force_rows[d.frame_forces(i)] * atom[:, None]]
            targets += [[d.energies[i] * weight], forces * atom]
        return np.vstack(blocks), np.concatenate(targets)

    def add(self, indices) -> None:
        indices = [int(i) for i in indices]
        if not indices:
            return
        rows, targets = self.rows(indices)
        self.gram += rows.T @ rows
        self.rhs += rows.T @ targets
        self.frames += indices

    def solve(self) -> np.ndarray:
        matrix = self.gram + np.diag(self.ridge * self.scale)
        return np.linalg.solve(matrix, self.rhs)


def frame_scale(design: Design, energy_weight: float, force_scale: float = 1.0) -> np.ndarray:
    """Return the mean diagonal of one frame's weighted normal matrix over ``design`` (the ridge's scale)."""
    fit = RidgeFit(design, energy_weight, 0.0, np.zeros(design.energy_rows.shape[1]), force_scale)
    diagonal = np.zeros(design.energy_rows.shape[1])
    for start in range(0, design.size, 200):
        rows, _ = fit.rows(range(start, min(start + 200, design.size)))
        diagonal += np.sum(rows**2, axis=0)
    scale = diagonal / design.size
    scale[scale <= 0] = 1.0
    return scale


def force_errors(design: Design, coefficients: np.ndarray) -> np.ndarray:
    """Return the per-atom force-error norms (eV/A) of ``coefficients`` on ``design``."""
    delta = design.force_rows @ coefficients - design.forces
    return np.linalg.norm(delta.reshape(-1, 3), axis=1)


def subset(projections: dict, owners: dict, frames) -> tuple[dict, dict]:
    """Return the projection rows (and owners) of ``frames`` only."""
    frames = np.asarray(sorted(frames), dtype=int)
    keep = {t: np.isin(owners[t], frames) for t in projections}
    return {t: projections[t][m] for t, m in keep.items()}, {t: owners[t][m] for t, m in keep.items()}


def active_set(design: Design, frames) -> dict[int, np.ndarray]:
    """Return the MaxVol active set (per species type) of the atoms of ``frames``, as pace_activeset builds it.

    Raises ``ValueError`` (naming the species type) when a species has fewer atoms than functions.
    """
    from pyace.activelearning import compute_active_set

    rows, _ = subset(design.projections, design.owners, frames)
    short = {t: value.shape for t, value in rows.items() if value.shape[0] < value.shape[1]}
    if short:
        raise ValueError(
            f'too few atoms for an active set (species type: (atoms, functions)) {short}: '
            'give a larger start set or fewer functions per element'
        )
    return compute_active_set(
        {t: value.copy() for t, value in rows.items()}, tol=MAXVOL_TOLERANCE, max_iters=MAXVOL_ITERATIONS
    )


def write_potential(basis_config, coefficients: np.ndarray, active: dict, folder: Path | str) -> tuple[Path, Path]:
    """Write the linear model as a B-basis YAML with ``coefficients`` and its active set as ``.asi``.

    Returns the two paths (``linear.yaml``, ``linear.asi``), what ``pair_style pace/extrapolation`` reads.
    """
    from pyace import ACEBBasisSet
    from pyace.activelearning import compute_A_active_inverse, save_active_inverse_set

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    basis = ACEBBasisSet(basis_config)
    basis.basis_coeffs = [float(value) for value in coefficients]
    yaml_path, asi_path = folder / 'linear.yaml', folder / 'linear.asi'
    basis.to_BBasisConfiguration().save(str(yaml_path))
    save_active_inverse_set(
        str(asi_path), compute_A_active_inverse({t: np.asarray(a) for t, a in active.items()}), basis.elements_name
    )
    return yaml_path, asi_path


def basis_elements(basis_config) -> list[str]:
    """Return the elements of ``basis_config`` in species-type order (the order ``pair_coeff`` must name them)."""
    from pyace import ACEBBasisSet

    return list(ACEBBasisSet(basis_config).elements_name)
