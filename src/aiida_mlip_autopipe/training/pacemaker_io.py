"""What pacemaker needs written and what it leaves behind: plain functions, no AiiDA.

- :class:`PacemakerParameters`: the fit parameters a user may set (validated, with defaults), with
  :class:`EnergyWeighting` (pacemaker's ``EnergyBasedWeightingPolicy``) and :class:`BlockShape`
  (radial and angular sizes of a block of basis functions).
- :func:`basis_shape_error`: whether pyace can build the basis the parameters ask for.
- :func:`pacemaker_input`/:func:`write_pacemaker_input`: pacemaker's ``input.yaml``.
- :func:`write_pacemaker_dataframe`: ASE frames -> pacemaker's gzipped DataFrame pickle.
- :func:`driver_script`: the text of the driver the job runs with the pacemaker environment's Python,
  the module :mod:`.run_pacemaker` shipped as a file; it runs ``pacemaker``, ``pace_yaml2yace`` and
  ``pace_activeset`` in turn, stops pacemaker at a soft time limit, moves the ZBL core switching
  below the data (:func:`lower_inner_cutoff`), records which structures pacemaker fitted and with
  what weights (:func:`dataset_summary`) and writes ``status.json``. Its functions are imported here.
- :func:`read_metrics_table`, :func:`summarise_metrics`, :func:`diagnose`: read the results
  (:func:`memory_evidence` tells an out-of-memory kill from another one).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .run_pacemaker import activeset_needs_all_atoms, cgroup_memory, dataset_summary, lower_inner_cutoff, memory_record

__all__ = (
    'DEFAULT_BASIS_SHAPE',
    'DRIVER_FILENAME',
    'FIXTURE_PARAMETERS',
    'BlockShape',
    'EnergyWeighting',
    'PacemakerParameters',
    'activeset_needs_all_atoms',
    'basis_shape_error',
    'cgroup_memory',
    'convex_hull_possible',
    'dataset_summary',
    'diagnose',
    'driver_script',
    'held_out_count',
    'lower_inner_cutoff',
    'memory_record',
    'pacemaker_input',
    'read_metrics_table',
    'summarise_metrics',
    'write_pacemaker_dataframe',
    'write_pacemaker_input',
)

DATA_FILENAME = 'data.pckl.gzip'
INPUT_FILENAME = 'input.yaml'
DRIVER_FILENAME = 'run_pacemaker.py'
STATUS_FILENAME = 'status.json'
PREVIOUS_POTENTIAL_FILENAME = 'previous_potential.yaml'
OUTPUT_YAML = 'output_potential.yaml'
OUTPUT_YACE = 'output_potential.yace'
OUTPUT_ASI = 'output_potential.asi'
INTERIM_YAML = 'interim_potential_0.yaml'
LOG_FILENAME = 'log.txt'
PACEMAKER_STDOUT = 'pacemaker.out'
PACEMAKER_STDERR = 'pacemaker.err'
YACE_LOG = 'yaml2yace.log'
ACTIVESET_LOG = 'activeset.log'
#: pacemaker's metric tables: train per iteration, test every ``display_step``, final cycle rows
METRICS_FILES = ('metrics.txt', 'test_metrics.txt', 'cycle_metrics.txt', 'test_cycle_metrics.txt')
RETRIEVE_LIST = [
    STATUS_FILENAME,
    LOG_FILENAME,
    PACEMAKER_STDOUT,
    PACEMAKER_STDERR,
    YACE_LOG,
    ACTIVESET_LOG,
    OUTPUT_YAML,
    OUTPUT_YACE,
    OUTPUT_ASI,
    INTERIM_YAML,
    *METRICS_FILES,
]

#: embedding name -> (ndensity, Finnis-Sinclair parameters) of ``FinnisSinclairShiftedScaled``
EMBEDDINGS = {
    'linear': (1, [1, 1]),
    'finnis_sinclair': (2, [1, 1, 1, 0.5]),
}
OPTIMIZERS = ('BFGS', 'L-BFGS-B', 'CG')


#: the largest body order minus one (rank) pacemaker's basis white-list covers
MAX_RANK = 6
#: block kinds of pacemaker's ``potential: functions`` section; ``ALL`` covers every block not named otherwise
BLOCK_KINDS = ('UNARY', 'BINARY', 'TERNARY', 'QUATERNARY', 'QUINARY', 'ALL')
BlockKind = Literal['UNARY', 'BINARY', 'TERNARY', 'QUATERNARY', 'QUINARY', 'ALL']


class BlockShape(BaseModel):
    """Radial and angular sizes of the basis functions of one kind of block, per rank (body order - 1)."""

    model_config = ConfigDict(extra='forbid')

    nradmax_by_orders: list[int] = Field(
        description='Largest radial index n per rank; the first entry (rank 1, pair functions) is also the size '
        "of the radial basis (pacemaker's nradbase)."
    )
    lmax_by_orders: list[int] = Field(
        description='Largest angular momentum l per rank; the first entry (rank 1) must be 0.'
    )

    @field_validator('nradmax_by_orders')
    @classmethod
    def _positive_radial(cls, values: list[int]) -> list[int]:
        if not 1 <= len(values) <= MAX_RANK:
            raise ValueError(f'give 1 to {MAX_RANK} entries (one per rank), not {len(values)}')
        if any(value < 1 for value in values):
            raise ValueError(f'every entry must be at least 1, got {values}')
        return values

    @field_validator('lmax_by_orders')
    @classmethod
    def _angular(cls, values: list[int]) -> list[int]:
        if not values or values[0] != 0:
            raise ValueError(f'the first entry (rank 1, pair functions) must be 0, got {values}')
        if any(value < 0 for value in values):
            raise ValueError(f'every entry must be at least 0, got {values}')
        return values

    @model_validator(mode='after')
    def _same_length(self) -> BlockShape:
        if len(self.nradmax_by_orders) != len(self.lmax_by_orders):
            raise ValueError(
                f'`nradmax_by_orders` ({len(self.nradmax_by_orders)} entries) and `lmax_by_orders` '
                f'({len(self.lmax_by_orders)} entries) must have one entry per rank each'
            )
        return self


#: the basis shape used so far (a pool of candidate functions; ``number_of_functions_per_element`` picks
#: the lowest ones of it)
DEFAULT_BASIS_SHAPE = {
    'UNARY': {'nradmax_by_orders': [15, 6, 4, 3, 2, 2], 'lmax_by_orders': [0, 3, 3, 2, 2, 1]},
    'BINARY': {'nradmax_by_orders': [15, 6, 3, 2, 2, 1], 'lmax_by_orders': [0, 3, 2, 1, 1, 0]},
    'TERNARY': {'nradmax_by_orders': [15, 3, 3, 2, 1], 'lmax_by_orders': [0, 2, 2, 1, 1]},
    'ALL': {'nradmax_by_orders': [15, 3, 2, 1, 1], 'lmax_by_orders': [0, 2, 2, 1, 1]},
}


class EnergyWeighting(BaseModel):
    """pacemaker's ``EnergyBasedWeightingPolicy``: lower weights for high-energy structures and large forces.

    A structure ``E`` eV/atom above the reference (``energy``) gets the energy weight
    ``1 / (E + de)**2``; each atom's force weight is ``1 / (|f|**2 + df)`` times its structure's
    energy weight (both normalised). The policy also DROPS structures at or above ``de_up`` and,
    with ``df_up``, those with an atomic force above it, and keeps at most ``nfit`` structures: the
    defaults drop nothing.
    """

    model_config = ConfigDict(extra='forbid')

    energy: Literal['convex_hull', 'cohesive'] = Field(
        'convex_hull',
        description='Energy reference: `convex_hull` (distance to the convex hull of the data, for alloys) or '
        '`cohesive` (energy per atom above the lowest one in the data). One composition: the same.',
    )
    de: float = Field(1.0, gt=0.0, description="pacemaker's DE (eV/atom): energy weight 1 / (E + de)^2.")
    df: float = Field(1.0, gt=0.0, description="pacemaker's DF ((eV/A)^2): force weight 1 / (|f|^2 + df).")
    de_low: float = Field(
        1.0,
        gt=0.0,
        description="pacemaker's DElow (eV/atom): structures below it form the low tier (see `wlow`, `nfit`).",
    )
    de_up: float = Field(
        1000.0,
        gt=0.0,
        description="pacemaker's DEup (eV/atom): structures at or above it are DROPPED from the fit.",
    )
    df_up: float | None = Field(
        None,
        gt=0.0,
        description="pacemaker's DFup (eV/A): structures with an atomic force above it are DROPPED; None keeps all.",
    )
    wlow: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="pacemaker's wlow: share of the energy weight given to the low tier; None keeps the weights "
        '1 / (E + de)^2 as they are (with a fraction, a few structures above `de_low` share 1 - wlow).',
    )
    nfit: int | None = Field(
        None,
        ge=1,
        description="pacemaker's nfit: keep at most this many structures (low tier first, the rest drawn at "
        'random); None keeps all.',
    )
    seed: int | None = Field(
        None, ge=0, description="Random seed of the draw for `nfit`; None takes the fit parameters' `seed`."
    )

    @model_validator(mode='after')
    def _ordered(self) -> EnergyWeighting:
        if self.de_up <= self.de_low:
            raise ValueError(f'`de_up` ({self.de_up}) must be larger than `de_low` ({self.de_low})')
        return self

    def pacemaker_spec(self, seed: int) -> dict:
        """Return pacemaker's ``fit: weighting`` section (``seed`` if this one has none)."""
        spec = {
            'type': 'EnergyBasedWeightingPolicy',
            'energy': self.energy,
            'DElow': self.de_low,
            'DEup': self.de_up,
            'DE': self.de,
            'DF': self.df,
            'wlow': self.wlow,
            'reftype': 'all',
            'seed': seed if self.seed is None else self.seed,
        }
        if self.df_up is not None:
            spec['DFup'] = self.df_up
        if self.nfit is not None:
            spec['nfit'] = self.nfit
        return spec


class PacemakerParameters(BaseModel):
    """Fit parameters of one pacemaker run (units: A, eV)."""

    model_config = ConfigDict(extra='forbid')

    cutoff: float = Field(5.0, gt=2.0, le=12.0, description='Radial cutoff (A).')
    number_of_functions_per_element: int = Field(
        20, ge=1, le=5000, description='Size of the basis: ACE functions per element.'
    )
    embedding: Literal['linear', 'finnis_sinclair'] = Field(
        'finnis_sinclair',
        description='Embedding: `linear` (one density) or `finnis_sinclair` (a linear and a square-root density).',
    )
    force_weight: float = Field(
        0.3, gt=0.0, lt=1.0, description="pacemaker's kappa: weight of forces in the loss; energies get 1 - kappa."
    )
    maxiter: int = Field(100, ge=1, le=100000, description='Optimizer iterations.')
    optimizer: Literal['BFGS', 'L-BFGS-B', 'CG'] = Field('BFGS', description='SciPy optimizer used by pacemaker.')
    test_size: float = Field(0.1, ge=0.0, lt=0.5, description='Fraction of structures held out as the test set.')
    seed: int = Field(42, ge=0, description='Random seed (train/test split, initial coefficients).')
    l1_coefficient: float = Field(1e-8, ge=0.0, description='L1 regularisation of the coefficients.')
    l2_coefficient: float = Field(1e-8, ge=0.0, description='L2 regularisation of the coefficients.')
    batch_size: int = Field(100, ge=1, description='Structures per TensorFlow batch (memory use scales with it).')
    display_step: int = Field(10, ge=1, description='Iterations between test-set evaluations in the log.')
    repulsion: bool = Field(True, description='Add the ZBL core repulsion below the smallest distance in the data.')
    repulsion_margin: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description='With `repulsion`: move the 0.1 A wide switch to ZBL this far (A) below the shortest training '
        'distance of each pair, where pacemaker puts it; 0 keeps it there.',
    )
    activeset_batch_size: int | None = Field(
        None,
        ge=1,
        description='Structures per batch of `pace_activeset` (lower it for large sets); all at once if None.',
    )
    weighting: EnergyWeighting | None = Field(
        None,
        description="pacemaker's energy-based weighting of structures and forces (`EnergyWeighting`); None: "
        'uniform weights (every structure alike, every atom alike).',
    )
    basis_shape: dict[BlockKind, BlockShape] = Field(
        default_factory=lambda: {kind: BlockShape(**shape) for kind, shape in DEFAULT_BASIS_SHAPE.items()},
        description='Radial and angular sizes per rank of each kind of block (`UNARY`, `BINARY`, `TERNARY`, '
        '`QUATERNARY`, `QUINARY`; `ALL` for every kind not named, required). The pool from which '
        '`number_of_functions_per_element` functions are taken; ignored when continuing a potential.',
    )

    @field_validator('basis_shape')
    @classmethod
    def _has_all(cls, shape: dict) -> dict:
        if 'ALL' not in shape:
            raise ValueError(f'give an `ALL` shape (used for every kind of block not named); got {", ".join(shape)}')
        return shape


#: parameters of the committed Cu-Au fixture potential (tests/fixtures/make_ace_cuau.py)
FIXTURE_PARAMETERS = PacemakerParameters(
    cutoff=5.0, number_of_functions_per_element=24, maxiter=150, test_size=0.1, seed=42, display_step=25
)


def held_out_count(structure_count: int, test_size: float) -> int:
    """Return how many of ``structure_count`` structures to hold out for ``test_size`` (a fraction).

    At least one when ``test_size > 0`` (pacemaker rounds down and fails on an empty test set) and at
    most ``structure_count - 1``, so that small training sets still get a test error.
    """
    if test_size <= 0:
        return 0
    if structure_count < 2:
        raise ValueError(f'`test_size`: {structure_count} structure(s) cannot be split into train and test sets')
    return min(max(1, int(structure_count * test_size)), structure_count - 1)


def pacemaker_input(
    parameters: PacemakerParameters,
    elements: Iterable[str],
    data_filename: str = DATA_FILENAME,
    potential_filename: str | None = None,
    reference_energies: dict[str, float] | str = 'auto',
    structure_count: int | None = None,
) -> dict:
    """Return pacemaker's ``input.yaml`` content as a dictionary.

    Parameters
    ----------
    parameters
        The fit parameters.
    elements
        Chemical symbols of the potential (sorted in the file).
    data_filename
        The DataFrame pickle with columns ``ase_atoms``, ``energy``, ``forces``.
    potential_filename
        A B-basis YAML to continue from (its basis and coefficients replace the ``potential``
        section), or None for a new basis.
    reference_energies
        ``auto`` (pacemaker's least-squares per-element energies plus a shift, recorded in the
        potential's metadata) or per-element energies in eV (e.g. isolated atoms; key ``shift``
        allowed). The potential fits ``energy - sum(reference) (+ shift per atom)``.
    structure_count
        Size of the training set: the test set is then given as a number of structures
        (:func:`held_out_count`); if None, as pacemaker's fraction.
    """
    elements = sorted(set(elements))
    if not elements:
        raise ValueError('`elements`: give at least one element')
    if isinstance(reference_energies, dict):
        missing = set(elements) - set(reference_energies)
        if missing:
            raise ValueError(f'`reference_energies`: no value for {", ".join(sorted(missing))}')
        reference = {key: float(value) for key, value in sorted(reference_energies.items())}
    elif reference_energies == 'auto':
        reference = 'auto'
    else:
        raise ValueError(f'`reference_energies`: `{reference_energies}` is not allowed; give `auto` or a dictionary')
    ndensity, fs_parameters = EMBEDDINGS[parameters.embedding]
    if potential_filename is not None:
        potential = potential_filename
    else:
        potential = {
            'deltaSplineBins': 0.001,
            'elements': elements,
            'embeddings': {
                'ALL': {'npot': 'FinnisSinclairShiftedScaled', 'fs_parameters': fs_parameters, 'ndensity': ndensity}
            },
            'bonds': {
                'ALL': {
                    'radbase': 'SBessel',
                    'radparameters': [5.25],
                    'rcut': parameters.cutoff,
                    'dcut': 0.01,
                    'NameOfCutoffFunction': 'cos',
                }
            },
            'functions': {
                'number_of_functions_per_element': parameters.number_of_functions_per_element,
                **{
                    kind: parameters.basis_shape[kind].model_dump()
                    for kind in BLOCK_KINDS
                    if kind in parameters.basis_shape
                },
            },
        }
    data = {'filename': data_filename, 'reference_energy': reference}
    if parameters.test_size > 0:
        if structure_count is None:
            data['test_size'] = parameters.test_size
        else:
            data['test_size'] = held_out_count(structure_count, parameters.test_size)
    fit = {
        'loss': {
            'kappa': parameters.force_weight,
            'L1_coeffs': parameters.l1_coefficient,
            'L2_coeffs': parameters.l2_coefficient,
        },
        'optimizer': parameters.optimizer,
        'maxiter': parameters.maxiter,
    }
    if parameters.weighting is not None:
        fit['weighting'] = parameters.weighting.pacemaker_spec(parameters.seed)
    if parameters.repulsion:
        fit['repulsion'] = 'auto'
    return {
        'cutoff': parameters.cutoff,
        'seed': parameters.seed,
        'metadata': {'origin': 'aiida-mlip-autopipe'},
        'potential': potential,
        'data': data,
        'fit': fit,
        'backend': {
            'evaluator': 'tensorpot',
            'batch_size': parameters.batch_size,
            'display_step': parameters.display_step,
        },
    }


def basis_shape_error(parameters: PacemakerParameters, elements: Iterable[str]) -> str | None:
    """Return why pyace cannot build the basis of ``parameters`` for ``elements`` (naming the field), or None.

    pacemaker builds only functions of its precomputed white-list of couplings; a shape beyond it
    (e.g. rank 6 with two radial functions in a binary block) stops the fit before it starts. This
    builds the basis as pacemaker does (about 0.1 s for one element, 2 s for four).
    """
    shape = json.dumps({kind: value.model_dump() for kind, value in parameters.basis_shape.items()}, sort_keys=True)
    return _basis_shape_error(shape, tuple(sorted(set(elements))))


@functools.lru_cache(maxsize=64)
def _basis_shape_error(shape: str, elements: tuple[str, ...]) -> str | None:
    from pyace.multispecies_basisextension import create_multispecies_basis_config

    parameters = PacemakerParameters(basis_shape=json.loads(shape), number_of_functions_per_element=1)
    potential = pacemaker_input(parameters, elements)['potential']
    try:
        create_multispecies_basis_config(potential)
    except (ValueError, KeyError) as exception:
        return f'`parameters.basis_shape`: pyace cannot build this basis for {", ".join(elements)}: {exception}'
    return None


def convex_hull_possible(numbers, natoms, energies) -> bool:
    """Return whether pacemaker can build the convex hull of a training set for ``energy: convex_hull``.

    ``numbers`` are the atomic numbers of all configurations one after the other, ``natoms`` the
    size of each and ``energies`` their energies (eV). pacemaker builds the hull over (concentrations
    but the last, energy per atom) with SciPy's Qhull, which fails ("not enough points", "initial
    simplex is flat") unless those points span every direction; with a single composition it falls
    back to cohesive energies itself (True here).
    """
    import numpy as np

    numbers = np.asarray(numbers)
    natoms = np.asarray(natoms, dtype=int)
    species = np.unique(numbers)
    frame_of_atom = np.repeat(np.arange(len(natoms)), natoms)
    counts = np.zeros((len(natoms), len(species)))
    np.add.at(counts, (frame_of_atom, np.searchsorted(species, numbers)), 1.0)
    concentrations = counts / natoms[:, None]
    if len(np.unique(np.round(concentrations, 10), axis=0)) < 2:
        return True
    points = np.column_stack([concentrations[:, :-1], np.asarray(energies, dtype=float) / natoms])
    return int(np.linalg.matrix_rank(points - points.mean(axis=0))) == points.shape[1]


def write_pacemaker_input(path, parameters: PacemakerParameters, elements: Iterable[str], *args, **kwargs) -> None:
    """Write :func:`pacemaker_input` to ``path`` as YAML (arguments as there)."""
    content = pacemaker_input(parameters, elements, *args, **kwargs)
    Path(path).write_text(yaml.safe_dump(content, sort_keys=False, default_flow_style=None))


def write_pacemaker_dataframe(frames, path) -> int:
    """Write ASE ``frames`` (with energy and forces) as pacemaker's gzipped DataFrame pickle.

    Columns ``ase_atoms``, ``energy`` (eV), ``forces`` (eV/A); pacemaker derives
    ``energy_corrected`` from ``data: reference_energy`` in ``input.yaml``. Returns the number of rows.
    """
    import pandas as pd

    rows = [
        {'ase_atoms': atoms, 'energy': atoms.get_potential_energy(), 'forces': atoms.get_forces()} for atoms in frames
    ]
    frame = pd.DataFrame(rows, columns=['ase_atoms', 'energy', 'forces'])
    frame.to_pickle(path, compression='gzip', protocol=4)
    return len(frame)


def driver_script() -> str:
    """Return the text of the job's driver: the module :mod:`.run_pacemaker` as shipped in the package."""
    return resources.files(__package__).joinpath(DRIVER_FILENAME).read_text()


def __getattr__(name: str):
    """``DRIVER_SCRIPT``: :func:`driver_script`, read when asked for (nothing is read at import)."""
    if name == 'DRIVER_SCRIPT':
        return driver_script()
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def driver_arguments(
    time_limit: float | None,
    activeset_batch_size: int | None = None,
    inner_cutoff_margin: float = 0.0,
    max_memory_kb: int | None = None,
) -> list[str]:
    """Return the command-line arguments of the driver (:func:`.run_pacemaker.main`)."""
    limit = 'none' if time_limit is None else f'{float(time_limit):.0f}'
    batch = 'none' if activeset_batch_size is None else str(int(activeset_batch_size))
    memory = 'none' if not max_memory_kb else str(int(max_memory_kb))
    return [DRIVER_FILENAME, limit, batch, repr(float(inner_cutoff_margin)), memory]


def soft_time_limit(max_wallclock_seconds: int | None) -> float | None:
    """Return when the driver stops pacemaker: 90 % of the wall time, leaving at least 30 s, or None."""
    if not max_wallclock_seconds:
        return None
    return max(min(0.9 * max_wallclock_seconds, max_wallclock_seconds - 30), 1.0)


def read_metrics_table(text: str) -> list[dict[str, float]]:
    """Return the rows of a pacemaker metrics table (whitespace columns, header line) as dicts."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    rows = []
    for values in lines[1:]:
        if len(values) != len(header):
            continue  # a row cut short by a kill
        row = {}
        for key, value in zip(header, values):
            try:
                row[key] = float(value)
            except ValueError:
                row[key] = math.nan
        rows.append(row)
    return rows


def _errors(row: dict[str, float] | None) -> dict[str, float]:
    if not row:
        return {}
    return {
        'energy_rmse_mev_per_atom': 1000 * row.get('rmse_epa', math.nan),
        'force_rmse_mev_per_angstrom': 1000 * row.get('rmse_f_comp', math.nan),
        'energy_mae_mev_per_atom': 1000 * row.get('mae_epa', math.nan) if 'mae_epa' in row else None,
        'force_mae_mev_per_angstrom': 1000 * row.get('mae_f_comp', math.nan),
        'loss': row.get('loss', math.nan),
    }


def summarise_metrics(tables: dict[str, str]) -> dict:
    """Return the metrics of a fit from pacemaker's tables (file name -> text; missing ones skipped).

    Train and test errors come from the final cycle rows (``cycle_metrics.txt``,
    ``test_cycle_metrics.txt``), falling back to the last per-iteration row for an interrupted fit.
    Without test tables (no test split) there is no ``test_*`` key.
    Energies in meV/atom, forces in meV/A (RMSE over force components), as pacemaker's log prints.
    """
    rows = {name: read_metrics_table(tables.get(name, '')) for name in METRICS_FILES}
    train_last = (rows['cycle_metrics.txt'] or rows['metrics.txt'] or [None])[-1]
    test_last = (rows['test_cycle_metrics.txt'] or rows['test_metrics.txt'] or [None])[-1]
    metrics = {}
    for prefix, row in (('train', train_last), ('test', test_last)):
        for key, value in _errors(row).items():
            if value is not None:
                metrics[f'{prefix}_{key}'] = value
    if rows['metrics.txt']:
        first = _errors(rows['metrics.txt'][0])
        metrics['initial_train_energy_rmse_mev_per_atom'] = first['energy_rmse_mev_per_atom']
        metrics['initial_train_force_rmse_mev_per_angstrom'] = first['force_rmse_mev_per_angstrom']
    metrics['loss_per_iteration'] = [row['loss'] for row in rows['metrics.txt']]
    if rows['test_metrics.txt']:  # no test_* key at all without a test split (test_size 0)
        metrics['test_loss_per_iteration'] = {
            str(int(row['iter_num'])): row['loss'] for row in rows['test_metrics.txt']
        }
    metrics['iterations'] = int(max((row['iter_num'] for row in rows['metrics.txt']), default=0))
    if train_last and 'nfuncs' in train_last:
        metrics['number_of_functions'] = int(train_last['nfuncs'])
        metrics['number_of_coefficients'] = int(train_last['ncoefs'])
    return metrics


def has_nan_loss(metrics: dict) -> bool:
    """Return whether any train loss, or a final error, is not finite."""
    values = list(metrics.get('loss_per_iteration', []))
    values += [
        value
        for key, value in metrics.items()
        if key.startswith(('train_', 'test_')) and key != 'test_loss_per_iteration'
    ]
    return any(not math.isfinite(value) for value in values if isinstance(value, float))


#: (exit-code label, pattern) in the order they are checked on pacemaker's stderr and log
FAILURE_PATTERNS = (
    (
        'ERROR_OUT_OF_MEMORY',
        re.compile(
            r'MemoryError|ResourceExhausted|OOM when allocating|std::bad_alloc|Cannot allocate memory|out of memory',
            re.I,
        ),
    ),
    ('ERROR_NAN_LOSS', re.compile(r'Loss:\s+Total:\s+nan|\bloss\b[^\n]*\bnan\b', re.I)),
    (
        'ERROR_TENSORFLOW',
        re.compile(
            r'tensorflow\.python\.framework\.errors_impl|tensorflow[^\n]*Error|InvalidArgumentError|FailedPrecondition'
            r'|: F [\w/.]+:\d+\] .*'  # a fatal TensorFlow/XLA log line (the process aborts)
        ),
    ),
)


def last_error_line(text: str) -> str:
    """Return the last line of a Python traceback in ``text`` (the exception), or ''."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if 'Traceback (most recent call last)' not in text:
        return ''
    for line in reversed(lines):
        if re.match(r'^[\w.]+(Error|Exception|Exhausted|Interrupt)\b', line) or (
            ':' in line and 'Error' in line.split(':')[0]
        ):
            return line[:300]
    return lines[-1][:300]


#: a run killed with a peak resident set at or above this fraction of the memory limit ran out of memory
MEMORY_NEAR_LIMIT = 0.9


def _gib(kilobytes: float) -> str:
    return f'{kilobytes / 1024**2:.2f} GiB'


def memory_evidence(status: dict | None) -> tuple[str | None, str]:
    """Return (why a killed pacemaker ran out of memory, or None; what the driver recorded, in words).

    Evidence (``status['memory']``, see :func:`memory_record`): out-of-memory kills in the job's
    memory cgroup during the fit, or a peak resident set within 10 % of the lowest memory limit.
    """
    memory = (status or {}).get('memory')
    if not memory:
        return None, 'no memory record'
    peak, limit, kills = memory.get('peak_rss_kb'), memory.get('limit_kb'), memory.get('oom_kills')
    recorded = f'peak memory {_gib(peak)}' if peak else 'no peak memory'
    recorded += f' of a {_gib(limit)} limit' if limit else ', no known limit'
    recorded += '' if kills is None else f', {kills} out-of-memory kill(s) in its cgroup'
    if kills:
        return f"the kernel's out-of-memory killer acted in the job's memory cgroup ({recorded})", recorded
    if peak and limit and peak >= MEMORY_NEAR_LIMIT * limit:
        return f'its memory reached the limit ({recorded})', recorded
    return None, recorded


def diagnose(status: dict | None, stderr: str, log: str, metrics: dict) -> tuple[str | None, str]:
    """Return (exit-code label or None, detail) for a pacemaker run that left no final potential.

    ``status`` is the driver's ``status.json`` (None if the job was killed before writing it).
    The order: out of memory (by its error text), NaN loss, TensorFlow error, killed by a signal
    (out of memory only with memory evidence, see :func:`memory_evidence`; ``ERROR_KILLED``
    otherwise), time limit, then missing potential.
    """
    text = f'{stderr}\n{log}'
    step = (status or {}).get('steps', {}).get('pacemaker')
    for label, pattern in FAILURE_PATTERNS:
        match = pattern.search(text)
        if match:
            return label, last_error_line(stderr) or match.group(0)
    if has_nan_loss(metrics):
        return 'ERROR_NAN_LOSS', 'the loss became NaN'
    signal_number = 9 if step == 137 else (-step if isinstance(step, int) and step < 0 else None)
    if signal_number is not None:
        name = {9: 'SIGKILL', 15: 'SIGTERM', 6: 'SIGABRT', 2: 'SIGINT'}.get(signal_number, f'signal {signal_number}')
        evidence, recorded = memory_evidence(status)
        if evidence:
            return 'ERROR_OUT_OF_MEMORY', f'pacemaker was killed ({name}): {evidence}'
        return 'ERROR_KILLED', (
            f'pacemaker was killed ({name}) after {metrics.get("iterations", 0)} iterations without evidence of '
            f'running out of memory ({recorded}): a scheduler, a user or the system stopped it'
        )
    if step == 'timeout' or (step is None and metrics.get('iterations', 0) > 0):
        return 'ERROR_TIME_LIMIT', f'stopped after {metrics.get("iterations", 0)} iterations'
    return 'ERROR_MISSING_POTENTIAL', last_error_line(stderr) or f'pacemaker exit status {step}'


def read_status(text: str | None) -> dict | None:
    """Return the driver's ``status.json`` content, or None if absent or unreadable."""
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None
