"""The generation spec: one validated model of what structures to generate (pydantic)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..common.errors import format_validation_error
from ..common.geometry import min_interatomic_distance
from .lattice import PROTOTYPES, conventional_cell, estimate_lattice_constant, primitive_cell

#: Every generation method, in the order the structures are made.
METHODS = (
    'bulk',
    'sqs',
    'ordered',
    'strain',
    'random_strain',
    'rattle',
    'vacancy',
    'interstitial',
    'antisite',
    'surface',
    'compressed',
)

_FRACTION_TOLERANCE = 1e-6

#: Largest ordered cell (atoms) icet enumerates, by number of elements (more than two): the count of
#: decorations grows as n^atoms (fcc, all sizes up to this one: 1081 ternary cells of up to 6 atoms in
#: 0.4 s, 9808 of up to 8 in 6 s; 4993 quaternary of up to 6 in 3 s; 5520 six-element of up to 5 in 2 s).
ENUMERATION_ATOMS_CAP = {3: 6, 4: 6, 5: 5, 6: 5}


class Counts(BaseModel):
    """How many structures each method makes at most (before duplicates are removed)."""

    model_config = ConfigDict(extra='forbid')

    sqs: int = Field(
        3, ge=0, description='SQS cells: one per lattice, alloy composition and SQS size, up to this many.'
    )
    ordered: int = Field(40, ge=0, description='Ordered supercells from icet enumeration, spread over all found.')
    strain: int = Field(48, ge=0, description='Isotropic volume-strain structures (series over the bulk cells).')
    random_strain: int = Field(40, ge=0, description='Bulk cells under random normal and shear strain.')
    rattle: int = Field(60, ge=0, description='Bulk supercells with Gaussian atomic displacements.')
    vacancy: int = Field(30, ge=0, description='Single vacancies in bulk supercells.')
    interstitial: int = Field(16, ge=0, description='Single interstitials (Voronoi sites) in ordered bulk supercells.')
    antisite: int = Field(20, ge=0, description='Single antisites in alloy supercells.')
    surface: int = Field(24, ge=0, description='Stoichiometric low-index slabs of the end members and ordered cells.')
    compressed: int = Field(
        0, ge=0, description='Bulk cells compressed to short nearest-neighbour distances and rattled (repulsion).'
    )


class CompositionRange(BaseModel):
    """Evenly spaced compositions of a binary: the fraction of ``element`` from ``start`` to ``stop``."""

    model_config = ConfigDict(extra='forbid')

    element: str = Field(
        description='The element whose fraction varies; the other element of the binary fills the rest.'
    )
    start: float = Field(0.0, ge=0.0, le=1.0, description='Lowest fraction of `element`.')
    stop: float = Field(1.0, ge=0.0, le=1.0, description='Highest fraction of `element`.')
    num: int = Field(5, ge=1, description='Number of composition points, ends included.')


class ParentStructure(BaseModel):
    """A user parent lattice: every site may hold any of the elements."""

    model_config = ConfigDict(extra='forbid')

    name: str = Field('user', pattern=r'^[A-Za-z][A-Za-z0-9]*$', description='Short name used in keys and extras.')
    cell: list[list[float]] = Field(description='Cell vectors (A), three rows of three numbers.')
    scaled_positions: list[list[float]] = Field(min_length=1, description='Fractional coordinates of the sites.')


class GenerationSpec(BaseModel):
    """What structures to generate: chemistry, parent lattices, sizes, counts per method and the seed."""

    model_config = ConfigDict(extra='forbid')

    elements: list[str] = Field(min_length=1, description='Chemical symbols of the elements, e.g. `[Cu, Au]`.')
    compositions: list[dict[str, float]] | None = Field(
        None, description='Explicit composition points: fraction per element, each point summing to 1.'
    )
    composition_range: CompositionRange | None = Field(
        None, description='A range of binary compositions (instead of `compositions`).'
    )
    lattices: list[Literal['fcc', 'bcc', 'hcp']] = Field(
        default_factory=lambda: ['fcc'], description=f'Prototype parent lattices, any of {", ".join(PROTOTYPES)}.'
    )
    parent_structure: ParentStructure | None = Field(
        None, description='A user parent lattice, used beside (or, with `lattices: []`, instead of) the prototypes.'
    )
    lattice_constants: dict[str, float] | None = Field(
        None,
        description="Lattice constant `a` (A) per lattice name; missing ones are estimated by Vegard's law from "
        "ASE's reference lattice constants (atomic volume kept per element, hcp with ideal c/a).",
    )
    sqs_sizes: list[int] = Field(default_factory=lambda: [32], description='Atoms per SQS cell.')
    sqs_cutoffs: list[float] | None = Field(
        None,
        description='icet cluster cutoffs (A) for pairs, triplets, ...; default 2.5 and 1.5 nearest-neighbour '
        'distances (six fcc pair shells and the two shortest triplets).',
    )
    sqs_steps: int = Field(60000, ge=1, description='Monte Carlo swap trials per SQS (about 0.3 ms each at 32 atoms).')
    sqs_rounding: bool = Field(
        False,
        description='Round each alloy composition to the whole-atom occupation of each SQS size nearest to it '
        '(largest remainders) instead of refusing a composition the size cannot realise.',
    )
    sqs_supercells: int = Field(40, ge=1, description='Most compact supercell shapes the SQS annealing chooses from.')
    enumeration_max_atoms: int = Field(
        8,
        ge=1,
        description='Largest ordered cell (atoms) that icet enumerates; with three or more elements at most '
        f'{", ".join(f"{atoms} for {count}" for count, atoms in ENUMERATION_ATOMS_CAP.items())} elements.',
    )
    strain_range: tuple[float, float] = Field(
        (-0.08, 0.08), description='Smallest and largest isotropic volume strain (fraction of the volume).'
    )
    strain_points: int = Field(8, ge=1, description='Volume strains per bulk cell, evenly spaced, zero left out.')
    max_random_strain: float = Field(0.03, ge=0.0, lt=0.5, description='Largest random strain-tensor component.')
    rattle_stdevs: list[float] = Field(
        default_factory=lambda: [0.03, 0.08, 0.15], description='Standard deviations (A) of the rattling, cycled.'
    )
    compressed_distances: list[float] = Field(
        default_factory=lambda: [0.78, 0.84, 0.9],
        description='Nearest-neighbour distances of the compressed cells, as fractions of the uncompressed one.',
    )
    compressed_rattle: float = Field(
        0.04, ge=0.0, lt=0.5, description='Standard deviation (A) of the rattling of the compressed cells.'
    )
    defect_cell_atoms: int = Field(
        24, ge=1, description='Bulk cells are repeated to at least this many atoms before rattling or defects.'
    )
    surface_miller_indices: list[tuple[int, int, int]] = Field(
        default_factory=lambda: [(1, 0, 0), (1, 1, 0), (1, 1, 1)], description='Miller indices of the slabs.'
    )
    surface_thickness: float = Field(7.0, gt=0.0, description='Minimum slab thickness (A).')
    surface_vacuum: float = Field(10.0, gt=0.0, description='Minimum vacuum between periodic slab images (A).')
    max_atoms: int = Field(64, ge=1, description='No generated cell has more atoms than this.')
    min_distance: float = Field(
        1.2, gt=0.0, description='Atoms closer than this (A) make a lattice invalid and a generated structure dropped.'
    )
    duplicate_tolerance: float = Field(
        0.01, gt=0.0, le=0.3, description='StructureMatcher tolerance (lattice and sites) for duplicates.'
    )
    counts: Counts = Field(default_factory=Counts, description='Structures per method, at most.')
    seed: int = Field(0, ge=0, description='Seed of every random choice: the same spec gives the same structures.')

    @model_validator(mode='after')
    def _check(self) -> GenerationSpec:
        unknown = [element for element in self.elements if element not in atomic_numbers or element == 'X']
        if unknown:
            raise ValueError(f'`elements`: unknown element(s) {", ".join(unknown)}')
        if len(set(self.elements)) != len(self.elements):
            raise ValueError('`elements`: each element may appear once')
        if (self.compositions is None) == (self.composition_range is None):
            raise ValueError('give exactly one of `compositions` and `composition_range`')
        self._check_compositions()
        if not self.lattices and self.parent_structure is None:
            raise ValueError('`lattices`: give at least one lattice or a `parent_structure`')
        for name, value in (self.lattice_constants or {}).items():
            if name not in self.lattices:
                raise ValueError(f"`lattice_constants.{name}`: not one of the spec's `lattices` {self.lattices}")
            if value <= 0:
                raise ValueError(f'`lattice_constants.{name}`: {value} is not a positive length')
        if self.strain_range[0] > self.strain_range[1] or not -0.5 < self.strain_range[0] <= self.strain_range[1] < 1:
            raise ValueError(f'`strain_range`: {self.strain_range} must be increasing, within (-0.5, 1)')
        if not all(0.5 <= value < 1 for value in self.compressed_distances):
            raise ValueError(f'`compressed_distances`: {self.compressed_distances}; each must lie in [0.5, 1)')
        if any(value <= 0 for value in self.rattle_stdevs):
            raise ValueError('`rattle_stdevs`: standard deviations must be positive')
        if any(size < 1 for size in self.sqs_sizes):
            raise ValueError('`sqs_sizes`: sizes must be positive numbers of atoms')
        if self.defect_cell_atoms > self.max_atoms:
            raise ValueError(f'`defect_cell_atoms`: {self.defect_cell_atoms} exceeds `max_atoms` {self.max_atoms}')
        self._check_parents()
        if self.counts.sqs:
            self._check_sqs()
        return self

    def _check_compositions(self) -> None:
        if self.composition_range is not None:
            span = self.composition_range
            if len(self.elements) != 2:
                raise ValueError('`composition_range`: only for two elements; give `compositions` points instead')
            if span.element not in self.elements:
                raise ValueError(
                    f'`composition_range.element`: `{span.element}` is not one of `elements` {self.elements}'
                )
            if span.start > span.stop:
                raise ValueError(f'`composition_range`: start {span.start} is above stop {span.stop}')
            return
        if not self.compositions:
            raise ValueError('`compositions`: give at least one composition point')
        for index, point in enumerate(self.compositions):
            unknown = sorted(set(point) - set(self.elements))
            if unknown:
                raise ValueError(
                    f'`compositions[{index}]`: element(s) {", ".join(unknown)} not in `elements` {self.elements}'
                )
            if any(value < 0 for value in point.values()):
                raise ValueError(f'`compositions[{index}]`: fractions must not be negative ({point})')
            total = sum(point.values())
            if abs(total - 1.0) > _FRACTION_TOLERANCE:
                raise ValueError(f'`compositions[{index}]`: fractions sum to {total:g}, not 1 ({point})')

    def _check_parents(self) -> None:
        for name, parent in self.parent_cells().items():
            for composition in self.composition_points():
                atoms = parent(composition)
                shortest = min_interatomic_distance(atoms, search_radius=max(2 * self.min_distance, 1.0))
                if shortest < self.min_distance:
                    field = (
                        f'lattice_constants.{name}'
                        if self.lattice_constants and name in self.lattice_constants
                        else ('parent_structure' if name == self._user_name() else 'lattices')
                    )
                    raise ValueError(
                        f'`{field}`: the {name} lattice puts atoms {shortest:.3f} A apart at composition '
                        f'{_format(composition)}, closer than `min_distance` {self.min_distance} A'
                    )

    def _check_sqs(self) -> None:
        alloys = self.alloy_compositions()
        for name, parent in self.parent_cells().items():
            sites = len(parent(self.composition_points()[0]))
            for size in self.sqs_sizes:
                if size % sites:
                    raise ValueError(
                        f'`sqs_sizes`: {size} atoms is not a multiple of the {sites} sites of the {name} cell'
                    )
                if size > self.max_atoms:
                    raise ValueError(f'`sqs_sizes`: {size} atoms exceeds `max_atoms` {self.max_atoms}')
                for composition in [] if self.sqs_rounding else alloys:
                    for element, fraction in composition.items():
                        if abs(fraction * size - round(fraction * size)) > _FRACTION_TOLERANCE:
                            field = 'composition_range' if self.composition_range else 'compositions'
                            raise ValueError(
                                f'`{field}`/`sqs_sizes`: composition {_format(composition)} cannot be realised with '
                                f'{size} atoms ({fraction:g} x {size} = {fraction * size:g} {element} atoms); '
                                f'use compositions in steps of 1/{size} or another SQS size'
                            )

    # --- derived quantities -------------------------------------------------------------------------------------

    def composition_points(self) -> list[dict[str, float]]:
        """Return every composition point with a fraction for each element (zeros included)."""
        if self.composition_range is not None:
            span = self.composition_range
            other = next(element for element in self.elements if element != span.element)
            values = np.linspace(span.start, span.stop, span.num) if span.num > 1 else [span.start]
            points = [{span.element: round(float(value), 10), other: round(1 - float(value), 10)} for value in values]
        else:
            points = [
                {element: float(point.get(element, 0.0)) for element in self.elements} for point in self.compositions
            ]
        return [{element: point[element] for element in self.elements} for point in points]

    def alloy_compositions(self) -> list[dict[str, float]]:
        """Return the composition points with more than one element."""
        return [point for point in self.composition_points() if sum(value > 0 for value in point.values()) > 1]

    def enumeration_atoms(self) -> int:
        """Return the largest ordered cell (atoms) to enumerate: ``enumeration_max_atoms`` within its cap."""
        count = len(self.elements)
        cap = ENUMERATION_ATOMS_CAP.get(count, min(ENUMERATION_ATOMS_CAP.values())) if count > 2 else None
        return self.enumeration_max_atoms if cap is None else min(self.enumeration_max_atoms, cap)

    def end_members(self) -> list[str]:
        """Return the elements that appear pure among the composition points."""
        pure = []
        for point in self.composition_points():
            present = [element for element, value in point.items() if value > 0]
            if len(present) == 1 and present[0] not in pure:
                pure.append(present[0])
        return pure

    def lattice_constant(self, lattice: str, composition: dict[str, float]) -> float:
        """Return the given lattice constant of ``lattice`` or Vegard's estimate at ``composition``."""
        if self.lattice_constants and lattice in self.lattice_constants:
            return float(self.lattice_constants[lattice])
        return estimate_lattice_constant(lattice, {key: value for key, value in composition.items() if value > 0})

    def _user_name(self) -> str | None:
        return self.parent_structure.name if self.parent_structure else None

    def parent_cells(self) -> dict:
        """Return ``{lattice name: f(composition) -> primitive Atoms}`` for every parent lattice."""
        parents = {}
        for lattice in self.lattices:
            parents[lattice] = lambda composition, lattice=lattice: primitive_cell(
                lattice, self.lattice_constant(lattice, composition), self.elements[0]
            )
        if self.parent_structure is not None:
            user = self.parent_structure
            cell = np.array(user.cell, dtype=float)
            if cell.shape != (3, 3) or abs(np.linalg.det(cell)) < 1e-6:
                raise ValueError('`parent_structure.cell`: give three linearly independent vectors of three numbers')
            if any(len(position) != 3 for position in user.scaled_positions):
                raise ValueError('`parent_structure.scaled_positions`: each position needs three numbers')
            if user.name in PROTOTYPES:
                raise ValueError(f'`parent_structure.name`: `{user.name}` is a prototype name; choose another')
            atoms = Atoms(
                [self.elements[0]] * len(user.scaled_positions),
                scaled_positions=user.scaled_positions,
                cell=cell,
                pbc=True,
            )
            parents[user.name] = lambda composition, atoms=atoms: atoms.copy()
        return parents

    def conventional(self, lattice: str, element: str) -> Atoms:
        """Return the conventional cell of pure ``element`` on ``lattice``."""
        if self.parent_structure is not None and lattice == self.parent_structure.name:
            atoms = self.parent_cells()[lattice]({element: 1.0})
            atoms.symbols[:] = element
            return atoms
        return conventional_cell(lattice, self.lattice_constant(lattice, {element: 1.0}), element)


def _format(composition: dict[str, float]) -> str:
    return ' '.join(f'{element}{value:g}' for element, value in composition.items() if value > 0)


def validate_spec(spec: GenerationSpec | dict) -> GenerationSpec:
    """Return ``spec`` as a validated :class:`GenerationSpec`; raise ``ValueError`` naming the field otherwise."""
    from pydantic import ValidationError

    if isinstance(spec, GenerationSpec):
        return spec
    try:
        return GenerationSpec.model_validate(spec)
    except ValidationError as error:
        raise ValueError(f'invalid generation spec: {format_validation_error(error)}') from None
