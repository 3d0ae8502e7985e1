"""The campaign file: one validated model of everything a user can ask for.

A campaign file is YAML. Fields a user leaves out are filled from the chosen protocol's preset
(``protocols.yaml``: ``fast``, ``balanced``, ``stringent``); then the whole is validated by
:class:`CampaignConfig` (unknown fields are refused). :func:`load_campaign` turns pydantic's errors
into one message per field that names the field's path and what is allowed.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from ase.data import chemical_symbols
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .compositions import GRID_DENSITIES, MAX_ELEMENTS, binary_points, simplex_points, unique_points

PROTOCOLS = ('fast', 'balanced', 'stringent')
LABELLERS = ('qe', 'emt')


class CampaignError(ValueError):
    """A campaign file that cannot be run; the message names each wrong field and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra='forbid')


class Range(_Section):
    """A closed interval sampled at ``points`` evenly spaced values."""

    min: float = Field(description='Lower end.')
    max: float = Field(description='Upper end (>= min).')
    points: int = Field(3, ge=1, le=50, description='Number of evenly spaced values, ends included.')

    @model_validator(mode='after')
    def _ordered(self):
        if self.max < self.min:
            raise ValueError(f'max ({self.max}) must not be below min ({self.min})')
        return self

    def values(self) -> list[float]:
        """Return the sampled values."""
        if self.points == 1 or self.max == self.min:
            return [self.min]
        step = (self.max - self.min) / (self.points - 1)
        return [round(self.min + i * step, 10) for i in range(self.points)]


class CompositionRange(Range):
    """Atomic fraction of the last element of ``elements`` (binary: x in A(1-x)B(x))."""

    min: float = Field(0.0, ge=0.0, le=1.0, description='Lowest fraction of the last element.')
    max: float = Field(1.0, ge=0.0, le=1.0, description='Highest fraction of the last element.')


class CompositionGrid(_Section):
    """Composition points of three or more elements: a sampling of the simplex (``compositions.simplex_points``)."""

    density: int = Field(
        2,
        ge=min(GRID_DENSITIES),
        le=max(GRID_DENSITIES),
        description='0: no grid, only the explicit `composition_points`; 1: end members, the equiatomic point of each '
        'pair and the centre; 2: also the points halfway from the centre to each end member; 3: also the '
        'quarter points of each pair, the equiatomic point of every three elements and the points halfway '
        "from the centre to each pair's equiatomic point.",
    )


def _known_element(symbol: str, info: ValidationInfo) -> str:
    elements = info.data.get('elements')
    if elements is not None and symbol not in elements:
        raise ValueError(f'`{symbol}` is not one of `elements` ({", ".join(elements)})')
    return symbol


def _fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'fraction {value:g} lies outside the simplex; give 0 to 1')
    return value


def _on_simplex(point: dict[str, float]) -> dict[str, float]:
    total = sum(point.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f'fractions sum to {total:.6g}, not 1 (a composition point lies on the simplex)')
    return point


#: One explicit composition point: ``{element: fraction}`` over the campaign's elements, summing to 1.
CompositionPoint = Annotated[
    dict[Annotated[str, AfterValidator(_known_element)], Annotated[float, AfterValidator(_fraction)]],
    AfterValidator(_on_simplex),
]


class TemperatureRange(Range):
    """Temperatures (K) the potential must describe; exploration ramps up to ``max``."""

    min: float = Field(300.0, gt=0.0, le=10000.0, description='Lowest temperature (K).')
    max: float = Field(1200.0, gt=0.0, le=10000.0, description='Highest temperature (K).')


class Targets(_Section):
    """When the potential is good enough (see ``rules.convergence_criteria``)."""

    force_rmse_mev_a: float = Field(gt=0, description='Held-out force RMSE to reach (meV/A).')
    energy_rmse_mev_atom: float | None = Field(None, gt=0, description='Held-out energy RMSE to reach (meV/atom).')
    high_gamma_fraction: float = Field(
        ge=0, le=1, description="Largest fraction of any MD run's gamma samples above `exploration.gamma_lower`."
    )
    consecutive: int = Field(
        2, ge=1, le=10, description='Iterations in a row that must meet every criterion before the campaign stops.'
    )
    held_out_fraction: float = Field(
        0.15,
        gt=0.0,
        lt=0.5,
        description='Share of every labelled batch kept out of training (stratified by kind, composition and '
        "temperature) to score each iteration's potential.",
    )


class DftSettings(_Section):
    """The labelling stage (pw.x through ``DftLabellingWorkChain``)."""

    protocol: Literal['fast', 'balanced', 'stringent'] = Field(description='Labelling protocol.')
    overrides: dict[str, Any] = Field(default_factory=dict, description='aiida-quantumespresso overrides.')
    options: dict[str, Any] = Field(default_factory=dict, description='`metadata.options` of the pw.x jobs.')
    max_concurrent: int = Field(ge=1, description='pw.x runs at a time.')
    min_success_fraction: float = Field(ge=0, le=1, description='Fraction of each batch that must be labelled.')
    pseudo_family: str = Field('mlip-autopipe/debian-lda', description='aiida-pseudo family with cutoffs.')


class FitSettings(_Section):
    """The training stage (pacemaker)."""

    protocol: Literal['fast', 'balanced', 'stringent'] = Field(description='Fit size preset.')
    overrides: dict[str, Any] = Field(default_factory=dict, description='Fit parameters overriding the preset.')
    final_refit: bool = Field(
        description='After the loop, fit once more from scratch on every label; ship it only if its held-out '
        'force error is lower.'
    )


class SwapSettings(_Section):
    """Monte Carlo atom swaps during the exploration MD (LAMMPS ``fix atom/swap``), for two or more elements."""

    enabled: bool = Field(True, description='Swap atoms of different elements during the MD (chemical order).')
    every: int = Field(20, ge=1, description='MD steps between swap attempts.')
    attempts: int = Field(4, ge=1, description='Swaps tried each time, per pair of elements.')
    temperature: float | None = Field(
        None, gt=0, le=20000, description='Temperature (K) of the swap acceptance; default: that of the MD run.'
    )


class ExplorationSettings(_Section):
    """The exploration stage (LAMMPS MD with the extrapolation grade)."""

    temperature_points: int = Field(ge=1, le=20, description='Temperatures per iteration.')
    ensemble: Literal['nvt', 'npt'] = Field('npt', description='MD ensemble.')
    steps: int = Field(ge=10, description='MD steps per run.')
    timestep_fs: float = Field(gt=0, le=10, description='MD time step (fs).')
    gamma_lower: float = Field(gt=0, description='Frames above this extrapolation grade are candidates.')
    gamma_upper: float = Field(gt=0, description='A run halts when the grade exceeds this.')
    max_selected: int = Field(ge=1, description='Structures selected for labelling per iteration.')
    min_atoms: int = Field(
        32, ge=1, description='MD cells are repeated to at least this many atoms; selected frames have this size.'
    )
    selection: Literal['maxvol', 'farthest_point'] = Field(
        'maxvol',
        description='`maxvol`: D-optimal batch against the active set (pyace MaxVol); `farthest_point`: '
        'diversity of pooled descriptors.',
    )
    label_above_upper: bool = Field(
        False, description='Also label frames at or above `gamma_upper` (they count as failures either way).'
    )
    ramp_iterations: int = Field(
        2, ge=1, le=20, description='Iterations over which the MD ceiling ramps up to `temperature.max`.'
    )
    barostat: Literal['iso', 'aniso', 'tri'] = Field(
        'iso', description='NPT cell control: `iso`, `aniso` (three lengths) or `tri` (lengths and angles).'
    )
    swaps: SwapSettings = Field(default_factory=SwapSettings, description='Monte Carlo atom swaps.')

    @model_validator(mode='after')
    def _thresholds(self):
        if self.gamma_upper <= self.gamma_lower:
            raise ValueError(f'gamma_upper ({self.gamma_upper}) must exceed gamma_lower ({self.gamma_lower})')
        return self


class ScreeningSettings(_Section):
    """Surrogate screening of the generated candidates before the first DFT batch."""

    enabled: bool = Field(description='Run the surrogate screening.')
    select: int = Field(ge=1, description='Candidates kept for the first DFT batch.')


class ValidationSettings(_Section):
    """The final validation of the best potential against the labeller (``ValidationWorkChain``)."""

    properties: list[Literal['eos', 'elastic', 'vacancy', 'formation', 'md']] = Field(
        description='Properties to compare: eos, elastic (C11, C12, C44), vacancy (relaxed on both sides), '
        'formation (energies of the ordered compounds and of a disordered cell per composition), '
        'md (stability runs with atom swaps).'
    )
    tolerances: dict[str, float] = Field(
        default_factory=dict,
        description='Overrides of the tolerances: lattice_a, bulk_modulus, elastic (relative), vacancy_energy (eV), '
        'formation_energy (eV/atom).',
    )
    md_steps: int = Field(2000, ge=10, description='Steps of each MD stability run.')
    md_atoms: int = Field(
        256, ge=1, description='Smallest MD stability cell (atoms); at least four runs at T_max and 1.2 T_max.'
    )
    vacancy_supercell: int = Field(2, ge=1, le=4, description='Repetitions of the conventional cell for the vacancy.')

    @field_validator('tolerances')
    @classmethod
    def _known_tolerances(cls, tolerances):
        allowed = ('lattice_a', 'bulk_modulus', 'elastic', 'vacancy_energy', 'formation_energy')
        unknown = sorted(set(tolerances) - set(allowed))
        if unknown:
            raise ValueError(f'unknown tolerance(s) {", ".join(unknown)}; allowed: {", ".join(allowed)}')
        return tolerances


class Budgets(_Section):
    """When to stop even if the targets are not met."""

    iterations: int = Field(ge=1, description='Active-learning iterations (exploration + refit).')
    dft_calculations: int = Field(ge=1, description='DFT calculations in total.')
    wall_time_hours: float = Field(gt=0, description='Wall time of the whole campaign (h).')


class Codes(_Section):
    """Codes by label (`label@computer`), as `mlip-autopipe setup` registers them."""

    pw: str = Field('pw@localhost', description='Quantum ESPRESSO pw.x.')
    pacemaker: str = Field('pacemaker@localhost', description='pacemaker (ACE fitting).')
    lmp: str = Field('lmp@localhost', description='LAMMPS with ML-PACE.')
    surrogate: str = Field('surrogate@localhost', description='Universal potential for screening.')


class CampaignConfig(_Section):
    """A whole campaign: what to learn, how well, with what, within which budget."""

    name: str = Field(min_length=1, description='Label of the campaign (used for groups and reports).')
    elements: list[str] = Field(min_length=1, description=f'Chemical symbols (1 to {MAX_ELEMENTS}).')
    composition: CompositionRange | None = Field(
        None,
        validate_default=True,
        description='Two elements: the range of the last one (default 0 to 1, 3 points); not for three or more.',
    )
    composition_grid: CompositionGrid | None = Field(
        None,
        validate_default=True,
        description='Three or more elements: the sampling of the simplex (default density 2); not for fewer.',
    )
    composition_points: list[CompositionPoint] = Field(
        default_factory=list,
        validate_default=True,
        description='Explicit composition points `{element: fraction}` (missing elements 0, summing to 1), '
        'added to those of `composition` or `composition_grid`.',
    )
    temperature: TemperatureRange = Field(default_factory=TemperatureRange, description='Temperature range (K).')
    pressure_gpa: float = Field(0.0, ge=-50, le=500, description='Pressure of the NPT exploration (GPa).')
    protocol: Literal['fast', 'balanced', 'stringent'] = Field('balanced', description='Preset for the rest.')
    labeller: Literal['qe', 'emt'] = Field('qe', description='`qe` (pw.x) or `emt` (ASE EMT, for tests).')
    seed: int = Field(0, ge=0, description='Seed of every random choice in the campaign.')
    targets: Targets
    dft: DftSettings
    fit: FitSettings
    exploration: ExplorationSettings
    screening: ScreeningSettings
    budgets: Budgets
    validation: ValidationSettings
    generation: dict[str, Any] = Field(default_factory=dict, description='Structure generation spec overrides.')
    codes: Codes = Field(default_factory=Codes)
    description: str = Field('', description='Free text.')

    @field_validator('elements')
    @classmethod
    def _known_elements(cls, elements):
        unknown = [symbol for symbol in elements if symbol not in chemical_symbols[1:]]
        if unknown:
            raise ValueError(f'unknown element(s) {", ".join(unknown)}; give chemical symbols such as Cu, Au')
        if len(set(elements)) != len(elements):
            raise ValueError('each element may appear once')
        if len(elements) > MAX_ELEMENTS:
            raise ValueError(
                f'{len(elements)} elements; a campaign takes 1 to {MAX_ELEMENTS} (the ACE basis of n elements has '
                'n 2^(n-1) blocks of functions)'
            )
        return elements

    @field_validator('composition')
    @classmethod
    def _binary_range(cls, composition, info: ValidationInfo):
        count = len(info.data.get('elements') or [])
        if composition is not None and count and count != 2:
            raise ValueError(
                f'(min, max, points) is for two elements; with {count} give `composition_grid` and/or '
                '`composition_points`'
            )
        if composition is None and count == 2:
            return CompositionRange()
        return composition

    @field_validator('composition_grid')
    @classmethod
    def _simplex_grid(cls, grid, info: ValidationInfo):
        count = len(info.data.get('elements') or [])
        if grid is not None and count and count < 3:
            raise ValueError(f'for three or more elements; with {count} give `composition` and/or `composition_points`')
        if grid is None and count >= 3:
            return CompositionGrid()
        return grid

    @field_validator('composition_points')
    @classmethod
    def _some_points(cls, points, info: ValidationInfo):
        grid = info.data.get('composition_grid')
        if len(info.data.get('elements') or []) >= 3 and grid is not None and grid.density == 0 and not points:
            raise ValueError('`composition_grid.density` is 0: give at least one point here')
        return points

    def compositions(self) -> list[dict[str, float]]:
        """Return the composition points as ``{element: fraction}`` over every element: a binary's range of its
        last element (``composition``), the simplex sampling of three or more (``composition_grid``), then the
        explicit ``composition_points`` not among them."""
        count = len(self.elements)
        if count == 1:
            points = [{self.elements[0]: 1.0}]
        elif count == 2:
            points = binary_points(self.elements, (self.composition or CompositionRange()).values())
        else:
            points = simplex_points(self.elements, (self.composition_grid or CompositionGrid()).density)
        extra = [
            {element: round(float(point.get(element, 0.0)), 10) for element in self.elements}
            for point in self.composition_points
        ]
        return unique_points([*points, *extra]) if extra else points


def deep_merge(base: dict, override: dict) -> dict:
    """Return ``base`` updated recursively with ``override``."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def protocol_presets() -> dict[str, dict]:
    """Return the presets of ``protocols.yaml``, by protocol name."""
    return yaml.safe_load(resources.files(__package__).joinpath('protocols.yaml').read_text())


def _path(location) -> str:
    """Return an error location as a field path: ``composition_points[2].Zr``, ``exploration.steps``."""
    path = ''
    for part in location:
        if part == '[key]':
            continue
        path += f'[{part}]' if isinstance(part, int) else (f'.{part}' if path else str(part))
    return path


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        path = _path(item['loc']) or '(file)'
        message = item['msg'].removeprefix('Value error, ')
        if item['type'] == 'extra_forbidden':
            message = 'unknown field; allowed here: ' + ', '.join(_allowed_fields(item['loc'][:-1]))
        lines.append(f'field `{path}`: {message}')
    return 'invalid campaign file:\n  ' + '\n  '.join(lines)


def _allowed_fields(location) -> list[str]:
    model = CampaignConfig
    for part in location:
        annotation = model.model_fields[part].annotation
        model = next((arg for arg in getattr(annotation, '__args__', (annotation,)) if isinstance(arg, type)), None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(model.model_fields)


def campaign_from_dict(data: dict) -> CampaignConfig:
    """Fill ``data`` from its protocol's preset and validate it; raise :class:`CampaignError` if wrong."""
    if not isinstance(data, dict):
        raise CampaignError('invalid campaign file: the top level must be a mapping of fields')
    protocol = data.get('protocol', 'balanced')
    if protocol not in PROTOCOLS:
        raise CampaignError(
            f'invalid campaign file:\n  field `protocol`: `{protocol}` is not one of {", ".join(PROTOCOLS)}'
        )
    preset = {key: value for key, value in protocol_presets()[protocol].items() if key != 'description'}
    try:
        return CampaignConfig.model_validate(deep_merge(preset, data))
    except ValidationError as error:
        raise CampaignError(_format_errors(error)) from None


def load_campaign(path: str | Path) -> CampaignConfig:
    """Read and validate the campaign file at ``path``."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as error:
        raise CampaignError(f'campaign file {path} is not valid YAML: {error}') from None
    return campaign_from_dict(data)
