"""The campaign file: one validated model of everything a user can ask for.

A campaign file is YAML. Fields a user leaves out are filled from the chosen protocol's preset
(``protocols.yaml``: ``fast``, ``balanced``, ``stringent``); then the whole is validated by
:class:`CampaignConfig` (unknown fields are refused). :func:`load_campaign` turns pydantic's errors
into one message per field that names the field's path and what is allowed.

Every section is typed, so that a wrong value is refused before anything runs: ``generation`` by the
generation stage's :class:`~aiida_mlip_autopipe.generation.spec.GenerationSpec` fields,
``fit.overrides`` and ``dft.overrides``/``dft.options`` by models of what the training and labelling
stages accept. :func:`campaign_from_dict` then checks what no single field shows (pure checks, no
AiiDA profile): the whole generation spec built from the campaign, the fit parameters merged with
the fit protocol (pacemaker's :class:`~aiida_mlip_autopipe.training.pacemaker_io.PacemakerParameters`),
and contradictions between sections. The checks that need a profile (codes and their plugins, the
pseudo family, the labelling builder) are ``campaign.stages.check_resources``.
"""

from __future__ import annotations

import copy
import difflib
import re
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
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from ..generation.spec import GenerationSpec
from .compositions import GRID_DENSITIES, MAX_ELEMENTS, binary_points, simplex_points, unique_points

PROTOCOLS = ('fast', 'balanced', 'stringent')
LABELLERS = ('qe', 'emt')


class CampaignError(ValueError):
    """A campaign file that cannot be run; the message names each wrong field and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra='forbid')


class _Overrides(_Section):
    """A section whose fields all default to the stage's own choice: only the fields given are kept.

    Dumped (and stored on the campaign node) with the fields the user gave a value only (``null``
    counts as not given), so that the stage's protocol fills the rest. Values inside a free mapping
    stay as given: ``fit.overrides.pacemaker.parameters.weighting: null`` switches weighting off.
    """

    @model_serializer(mode='wrap')
    def _given_only(self, handler):
        data = handler(self)
        return {key: value for key, value in data.items() if key in self.model_fields_set and value is not None}


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
        description='Share of all labels kept out of training, each batch topping the held-out set up to it '
        "(stratified by kind, composition and temperature), to score each iteration's potential.",
    )


class Resources(_Overrides):
    """Scheduler resources of a job (AiiDA's ``metadata.options.resources``); the scheduler checks the mix."""

    num_machines: int | None = Field(None, ge=1, description='Machines (nodes).')
    num_mpiprocs_per_machine: int | None = Field(None, ge=1, description='MPI processes per machine.')
    tot_num_mpiprocs: int | None = Field(None, ge=1, description='MPI processes in all.')
    num_cores_per_machine: int | None = Field(None, ge=1, description='Cores per machine.')
    num_cores_per_mpiproc: int | None = Field(None, ge=1, description='Cores (threads) per MPI process.')


class JobOptions(_Overrides):
    """``metadata.options`` of a calculation job: resources, wall time, queue."""

    resources: Resources | None = Field(None, description='Scheduler resources.')
    max_wallclock_seconds: int | None = Field(None, ge=1, description='Wall-time limit of each job (s).')
    max_memory_kb: int | None = Field(None, ge=1, description='Memory limit of each job (kB).')
    withmpi: bool | None = Field(None, description='Run the code through `mpirun`.')
    queue_name: str | None = Field(None, min_length=1, description='Scheduler queue (partition).')
    account: str | None = Field(None, min_length=1, description='Scheduler account.')
    qos: str | None = Field(None, min_length=1, description='Scheduler quality of service.')
    custom_scheduler_commands: str | None = Field(None, description='Lines added to the job script header.')
    prepend_text: str | None = Field(None, description='Lines run before the code.')
    append_text: str | None = Field(None, description='Lines run after the code.')
    mpirun_extra_params: list[str] | None = Field(None, description='Extra `mpirun` arguments.')
    environment_variables: dict[str, str] | None = Field(None, description='Environment variables of the job.')
    import_sys_environment: bool | None = Field(None, description="Start from the submitting shell's environment.")


#: pw.x namelists a labelling run may set
PW_NAMELISTS = ('CONTROL', 'SYSTEM', 'ELECTRONS')
#: pw.x variables set by aiida-quantumespresso itself (from its ``PwCalculation._blocked_keywords``)
PW_BLOCKED = {
    'CONTROL': ('pseudo_dir', 'outdir', 'prefix'),
    'SYSTEM': ('celldm', 'nat', 'ntyp', 'a', 'b', 'c', 'cosab', 'cosac', 'cosbc'),
}
#: QE 6.x variables missing from ASE's list of pw.x variables (Hubbard input before the HUBBARD card)
PW_LEGACY_VARIABLES = {
    'SYSTEM': (
        'lda_plus_u',
        'lda_plus_u_kind',
        'hubbard_u',
        'hubbard_j0',
        'hubbard_j',
        'hubbard_v',
        'u_projection_type',
    )
}
#: pw.x variables whose value must be a positive number; (lower, upper) bounds where there are more
PW_POSITIVE = ('ecutwfc', 'ecutrho', 'degauss', 'conv_thr', 'etot_conv_thr', 'forc_conv_thr', 'electron_maxstep')
PW_BOUNDED = {'mixing_beta': (0.0, 1.0)}


def _pw_variables(namelist: str) -> set[str]:
    from ase.io.espresso_namelist.keys import pw_keys

    return {key.lower() for key in pw_keys[namelist.lower()]} | set(PW_LEGACY_VARIABLES.get(namelist, ()))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class PwOverrides(_Overrides):
    """What the labelling may change in each pw.x run, over the protocol's choice."""

    parameters: dict[str, dict[str, Any]] | None = Field(
        None,
        description=f'pw.x input variables by namelist ({", ".join(PW_NAMELISTS)}), e.g. '
        "`{SYSTEM: {ecutwfc: 40, ecutrho: 320}}`; names are checked against pw.x's variables.",
    )
    settings: dict[str, Any] | None = Field(
        None, description='`settings` of the pw.x calculation (e.g. `cmdline`); replaces the k-point pools.'
    )
    parallelization: dict[Literal['npool', 'nband', 'ntg', 'ndiag'], int] | None = Field(
        None, description='pw.x parallelisation flags (npool, nband, ntg, ndiag).'
    )

    @field_validator('parameters')
    @classmethod
    def _known_variables(cls, parameters):
        if parameters is None:
            return parameters
        for namelist, variables in parameters.items():
            if namelist not in PW_NAMELISTS:
                raise ValueError(
                    f'`{namelist}`: not a namelist a labelling run may set; allowed: {", ".join(PW_NAMELISTS)}'
                )
            known = _pw_variables(namelist)
            for name, value in variables.items():
                where = f'`{namelist}.{name}`'
                key = name.lower()
                if key in PW_BLOCKED.get(namelist, ()):
                    raise ValueError(f'{where}: set by aiida-quantumespresso from the structure and code; leave it out')
                if key not in known:
                    close = difflib.get_close_matches(key, sorted(known), n=3)
                    hint = f'; did you mean {", ".join(close)}?' if close else ''
                    raise ValueError(f'{where}: not a pw.x variable of `&{namelist}`{hint}')
                if key == 'calculation' and value != 'scf':
                    raise ValueError(f'{where}: `{value}`; labels are single-point calculations, allowed: scf')
                if key in PW_POSITIVE and not (_is_number(value) and value > 0):
                    raise ValueError(f'{where}: {value!r}; give a positive number')
                if key in PW_BOUNDED:
                    low, high = PW_BOUNDED[key]
                    if not (_is_number(value) and low < value <= high):
                        raise ValueError(f'{where}: {value!r}; give a number in ({low}, {high}]')
        system = {key.lower(): value for key, value in parameters.get('SYSTEM', {}).items()}
        if _is_number(system.get('ecutwfc')) and _is_number(system.get('ecutrho')):
            if system['ecutrho'] < 4 * system['ecutwfc']:
                raise ValueError(
                    f'`SYSTEM.ecutrho`: {system["ecutrho"]} is below 4 x `ecutwfc` ({system["ecutwfc"]}); '
                    'give at least 4 x ecutwfc (8-12 x for ultrasoft pseudopotentials)'
                )
        return parameters

    @field_validator('parallelization')
    @classmethod
    def _positive_flags(cls, flags):
        for name, value in (flags or {}).items():
            if value < 1:
                raise ValueError(f'`{name}`: {value}; give 1 or more')
        return flags

    @model_validator(mode='after')
    def _parallelised_once(self):
        """aiida-quantumespresso refuses, only when the job is prepared, a flag in both places."""
        from aiida_quantumespresso.calculations import BasePwCpInputGenerator

        settings = {key.lower(): value for key, value in (self.settings or {}).items()}
        cmdline = {str(argument).lstrip('-') for argument in settings.get('cmdline') or ()}
        for flag in self.parallelization or {}:
            if cmdline & {flag, *BasePwCpInputGenerator._PARALLELIZATION_FLAG_ALIASES.get(flag, ())}:
                raise ValueError(
                    f'`parallelization.{flag}`: also given in `settings.cmdline`; give it once, in `parallelization`'
                )
        return self


class ConvergenceOverrides(_Overrides):
    """aiida-quantumespresso's ``meta_parameters``: SCF thresholds per atom, scaled by the cell's size."""

    conv_thr_per_atom: float | None = Field(None, gt=0, lt=1e-3, description='SCF energy threshold per atom (Ry).')
    etot_conv_thr_per_atom: float | None = Field(
        None, gt=0, lt=1e-1, description='Total-energy threshold per atom (Ry), for relaxations.'
    )


class DftOverrides(_Overrides):
    """Overrides of aiida-quantumespresso's ``PwBaseWorkChain`` protocol for every labelling run."""

    kpoints_distance: float | None = Field(
        None, gt=0, le=5, description='Largest distance between k-points (1/A); smaller is denser.'
    )
    kpoints_force_parity: bool | None = Field(None, description='Force an even number of k-points per direction.')
    spin: Literal['auto', 'none', 'collinear'] | None = Field(
        None, description='`auto`: collinear spin when a magnetic element (Cr, Mn, Fe, Co, Ni) is present.'
    )
    empty_bands_per_atom: int | None = Field(
        None,
        ge=0,
        le=8,
        description="Empty bands per atom of a smeared run beyond four (default 1, against a metal's occupied "
        "highest band); 0 for a gapped system: pw.x's default, fewer bands and less CPU time, with a smearing "
        '(`pw.parameters.SYSTEM.degauss`) narrow enough that the top band stays empty.',
    )
    clean_workdir: bool | None = Field(None, description='Delete the remote folders of finished runs.')
    max_iterations: int | None = Field(
        None, ge=1, le=20, description='Restarts of a failing pw.x run by its `PwBaseWorkChain`.'
    )
    meta_parameters: ConvergenceOverrides | None = Field(None, description='SCF thresholds per atom.')
    pw: PwOverrides | None = Field(None, description='Inputs of each pw.x run.')

    @model_validator(mode='before')
    @classmethod
    def _not_here(cls, data):
        if isinstance(data, dict):
            if 'pseudo_family' in data:
                raise ValueError('`pseudo_family`: set the pseudopotentials with `dft.pseudo_family`, not in overrides')
            if isinstance(data.get('pw'), dict) and 'pseudos' in data['pw']:
                raise ValueError('`pw.pseudos`: set the pseudopotentials with `dft.pseudo_family`, not in overrides')
            if isinstance(data.get('pw'), dict) and 'metadata' in data['pw']:
                raise ValueError('`pw.metadata`: give the job options as `dft.options`')
        return data


class DftSettings(_Section):
    """The labelling stage (pw.x through ``DftLabellingWorkChain``)."""

    protocol: Literal['fast', 'balanced', 'stringent'] = Field(description='Labelling protocol.')
    overrides: DftOverrides = Field(
        default_factory=DftOverrides,
        description="Overrides of aiida-quantumespresso's protocol for every pw.x run.",
    )
    options: JobOptions = Field(default_factory=JobOptions, description='`metadata.options` of the pw.x jobs.')
    max_concurrent: int = Field(ge=1, description='pw.x runs at a time.')
    min_success_fraction: float = Field(ge=0, le=1, description='Fraction of each batch that must be labelled.')
    pseudo_family: str = Field('mlip-autopipe/debian-lda', description='aiida-pseudo family with cutoffs.')
    check_labels: bool = Field(
        True,
        description="Before anything else, label each element's reference crystal in two cells at three volumes "
        'and stop (exit 315) if they disagree by more than half of `targets.energy_rmse_mev_atom`: k-point noise.',
    )


class PacemakerMetadata(_Overrides):
    """``metadata`` of the pacemaker job."""

    options: JobOptions | None = Field(None, description='`metadata.options` of the pacemaker jobs.')


class PacemakerOverrides(_Overrides):
    """Inputs of each ``PacemakerCalculation``, over the fit protocol's."""

    parameters: dict[str, Any] | None = Field(
        None,
        description='Fit parameters (fields of `PacemakerParameters`, see the training docs), over the '
        "protocol's; checked merged with them.",
    )
    metadata: PacemakerMetadata | None = Field(None, description='Job options.')


class FitOverrides(_Overrides):
    """Overrides of ``PacemakerWorkChain``'s protocol, in its input nesting."""

    pacemaker: PacemakerOverrides | None = Field(None, description='The pacemaker job: `parameters`, `metadata`.')
    max_iterations: int | None = Field(None, ge=1, le=20, description='Restarts of a failing fit.')
    clean_workdir: bool | None = Field(None, description='Delete the remote folders of finished fits.')

    @model_validator(mode='before')
    @classmethod
    def _flat_parameters(cls, data):
        if isinstance(data, dict):
            from ..training.pacemaker_io import PacemakerParameters

            flat = [key for key in data if key in PacemakerParameters.model_fields]
            if flat:
                raise ValueError(
                    f'`{flat[0]}`: a fit parameter goes under `fit.overrides.pacemaker.parameters` '
                    f'(e.g. `fit: {{overrides: {{pacemaker: {{parameters: {{{flat[0]}: ...}}}}}}}}`)'
                )
        return data


class FitSettings(_Section):
    """The training stage (pacemaker)."""

    protocol: Literal['fast', 'balanced', 'stringent'] = Field(description='Fit size preset.')
    overrides: FitOverrides = Field(
        default_factory=FitOverrides,
        description='Overrides of the fit protocol, e.g. `{pacemaker: {parameters: {maxiter: 200}}}`.',
    )
    final_refit: bool = Field(
        description="After the loop, fit once more from scratch on every label and run the last iteration's MD "
        'with it; it ships if none of those runs halted and its held-out errors are within the targets or below '
        "the best iteration's.",
    )
    final_maxiter: int | None = Field(
        None,
        ge=1,
        le=100000,
        description="pacemaker iterations of the final refit; default: the fit protocol's `maxiter` or the loop's "
        "(`fit.overrides`), whichever is larger. A fit from scratch needs about as many as the loop's continued "
        'fits took together.',
    )
    final_functions_per_element: int | None = Field(
        None,
        ge=1,
        le=5000,
        description="Basis size of the final refit; default: the loop's. A small basis keeps the loop's early "
        'extrapolation grades meaningful; the potential that ships can need more once the data carries them.',
    )
    final_rounds: int = Field(
        0,
        ge=0,
        le=5,
        description='Rounds of active learning for the final refit: when its MD halts, the frames it halted on are '
        'labelled and it is fitted again from scratch, at most this many times (DFT budget permitting). 0: the '
        'best iteration ships instead.',
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
        32,
        ge=1,
        description='MD cells are repeated to at least this many atoms; selected frames have this size unless '
        '`label_atoms` is smaller.',
    )
    label_atoms: int | None = Field(
        None,
        ge=1,
        description="Label a periodic fragment of at most this many atoms (whole repeats of the MD cell's "
        'starting cell, at least one) around the atom of largest gamma instead of a larger selected frame: '
        'explore in cells as large as the validation MD at the cost of small labels. Default: whole frames.',
    )
    label_atoms_max: int | None = Field(
        None,
        ge=1,
        description='Cut a fragment larger, doubling its atoms up to this many, while the active set grades it '
        'below `gamma_lower` although its centre atom was above it in the MD cell (the extrapolation lay beyond '
        'the small box). Needs `label_atoms` and `selection: maxvol`. Default: no growth.',
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
        2, ge=1, le=20, description='Iterations over which the MD ceiling ramps up to its top temperature.'
    )
    temperature_margin: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description='The MD ceiling ends this fraction above `temperature.max` (0.2: at 1.2 T_max, where the '
        'validation checks MD stability).',
    )
    barostat: Literal['iso', 'aniso', 'tri'] = Field(
        'iso', description='NPT cell control: `iso`, `aniso` (three lengths) or `tri` (lengths and angles).'
    )
    swaps: SwapSettings = Field(default_factory=SwapSettings, description='Monte Carlo atom swaps.')

    @model_validator(mode='after')
    def _thresholds(self):
        if self.gamma_upper <= self.gamma_lower:
            raise ValueError(f'gamma_upper ({self.gamma_upper}) must exceed gamma_lower ({self.gamma_lower})')
        if self.label_atoms_max is not None:
            if self.label_atoms is None or self.selection != 'maxvol':
                raise ValueError('label_atoms_max needs label_atoms and selection: maxvol (the active set grades it)')
            if self.label_atoms_max < self.label_atoms:
                raise ValueError(
                    f'label_atoms_max ({self.label_atoms_max}) is smaller than label_atoms ({self.label_atoms})'
                )
        return self


class ScreeningSettings(_Section):
    """Surrogate screening of the generated candidates before the first DFT batch."""

    enabled: bool = Field(description='Run the surrogate screening.')
    select: int = Field(ge=1, description='Candidates kept for the first DFT batch.')


class Tolerances(_Overrides):
    """Largest errors of a passing validation, over the defaults of ``validation.properties``."""

    lattice_a: float | None = Field(None, gt=0, description='Lattice parameter, relative error (default 0.005).')
    bulk_modulus: float | None = Field(None, gt=0, description='Bulk modulus, relative error (default 0.05).')
    elastic: float | None = Field(None, gt=0, description='C11, C12, C44, relative error (default 0.10).')
    vacancy_energy: float | None = Field(None, gt=0, description='Vacancy formation energy (eV; default 0.1).')
    formation_energy: float | None = Field(
        None, gt=0, description='Formation energy per atom (eV/atom; default 0.005).'
    )
    phonon_frequency: float | None = Field(
        None,
        gt=0,
        description='Phonon frequencies: RMSE and largest error over the q mesh, and the highest frequency, '
        "relative to the labeller's highest frequency (default 0.05).",
    )


class ValidationSettings(_Section):
    """The final validation of the best potential against the labeller (``ValidationWorkChain``)."""

    properties: list[Literal['eos', 'elastic', 'vacancy', 'formation', 'phonons', 'md']] = Field(
        description='Properties to compare: eos (always; the others are taken at its equilibrium), elastic '
        '(C11, C12, C44), vacancy (relaxed on both sides), formation (energies of the ordered compounds and of '
        'a disordered cell per composition), phonons (band structure and density of states of the cubic end '
        'members and ordered compounds by finite displacements; with qe each displaced supercell is a pw.x '
        'run), md (stability runs with atom swaps).'
    )
    tolerances: Tolerances = Field(default_factory=Tolerances, description='Overrides of the tolerances.')
    md_steps: int = Field(2000, ge=10, description='Steps of each MD stability run.')
    md_atoms: int = Field(
        256, ge=1, description='Smallest MD stability cell (atoms); at least four runs at T_max and 1.2 T_max.'
    )
    vacancy_supercell: int = Field(2, ge=1, le=4, description='Repetitions of the conventional cell for the vacancy.')
    sqs_supercell: int = Field(
        2,
        ge=1,
        le=3,
        description='Repetitions of the conventional cell for the disordered cells (2: 32 fcc sites; 1: the smallest '
        'ordered cell of each composition, a demo size).',
    )
    phonon_supercell: int = Field(
        2, ge=1, le=4, description='Repetitions of the conventional cell for the phonons (2: 32 atoms for fcc).'
    )

    @field_validator('properties')
    @classmethod
    def _with_eos(cls, properties):
        if 'eos' not in properties:
            raise ValueError(f'give `eos` (the other properties are taken at its equilibrium); got {properties}')
        if len(set(properties)) != len(properties):
            raise ValueError(f'each property may appear once; got {properties}')
        return properties


class Budgets(_Section):
    """When to stop even if the targets are not met."""

    iterations: int = Field(ge=1, description='Active-learning iterations (exploration + refit).')
    dft_calculations: int = Field(ge=1, description='DFT calculations in total.')
    wall_time_hours: float = Field(gt=0, description='Wall time of the whole campaign (h).')
    idle_explorations: int = Field(
        2,
        ge=1,
        description='Explorations in a row that select nothing to label while the stop rule is unmet: '
        'the potential does not change, so exploring again repeats them.',
    )


class Codes(_Section):
    """Codes by label (`label@computer`), as `mlip-autopipe setup` registers them."""

    pw: str = Field('pw@localhost', description='Quantum ESPRESSO pw.x.')
    pacemaker: str = Field('pacemaker@localhost', description='pacemaker (ACE fitting).')
    lmp: str = Field('lmp@localhost', description='LAMMPS with ML-PACE.')
    surrogate: str = Field('surrogate@localhost', description='Universal potential for screening.')


#: GenerationSpec fields the campaign sets from its own fields: spec field -> campaign field
GENERATION_FROM_CAMPAIGN = {
    'elements': 'elements',
    'compositions': 'composition',
    'composition_range': 'composition',
    'seed': 'seed',
}

GenerationSettings = create_model(
    'GenerationSettings',
    __base__=_Section,
    __doc__="Structure generation: the fields of the generation stage's `GenerationSpec` but the chemistry and "
    'the seed, which come from `elements`, `composition` and `seed`.',
    **{
        name: (field.annotation, copy.copy(field))
        for name, field in GenerationSpec.model_fields.items()
        if name not in GENERATION_FROM_CAMPAIGN
    },
)


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
    generation: GenerationSettings = Field(
        default_factory=GenerationSettings, description='Structure generation (sizes and counts per method).'
    )
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

    def generation_spec(self) -> dict:
        """Return the generation stage's spec: ``generation`` plus the campaign's elements, compositions, seed."""
        spec = self.generation.model_dump(mode='json')
        spec.update(elements=list(self.elements), seed=self.seed)
        if len(self.elements) == 2 and not self.composition_points:
            composition = self.composition or CompositionRange()
            spec['composition_range'] = {
                'element': self.elements[-1],
                'start': composition.min,
                'stop': composition.max,
                'num': composition.points,
            }
        else:
            spec['compositions'] = self.compositions()
        if len(self.elements) >= 3:
            spec['sqs_rounding'] = True
            if 'sqs' not in self.generation.counts.model_fields_set:
                alloys = [point for point in self.compositions() if sum(value > 0 for value in point.values()) > 1]
                spec['counts']['sqs'] = len(alloys)
        return spec

    def fit_overrides(self) -> dict:
        """Return the overrides of ``PacemakerWorkChain``'s protocol: seed, no test split, then ``fit.overrides``.

        The seed is the campaign's; pacemaker's own random test split is off: the campaign scores every
        potential on its held-out set.
        """
        base = {'pacemaker': {'parameters': {'seed': self.seed, 'test_size': 0.0}}}
        return deep_merge(base, self.fit.overrides.model_dump(mode='json'))


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


#: a validator message that names a field below the one validated: "`sub.field`: what is wrong"
_SUBFIELD = re.compile(r'^`([\w.\[\]]+)`(?:/`[\w.\[\]]+`)*: (.*)$', re.S)


def _line(path: str, message: str) -> str:
    """Return one error line ``field `path`: message``, moving a field named first in ``message`` into the path."""
    match = _SUBFIELD.match(message)
    if match:
        sub, message = match.groups()
        path = f'{path}.{sub}' if path else sub
    return f'field `{path or "(file)"}`: {message}'


def _error_lines(error: ValidationError, prefix: str = '', root: type[BaseModel] | None = None) -> list[str]:
    """Return one line per error of ``error``, the field paths below ``prefix`` (unknown fields: what is allowed)."""
    lines = []
    for item in error.errors():
        location = tuple(item['loc'])
        path = '.'.join(part for part in [prefix, _path(location)] if part)
        message = item['msg'].removeprefix('Value error, ')
        if (
            item['type'] == 'extra_forbidden'
            and root is None
            and location[:1] == ('generation',)
            and (str(location[-1]) in GENERATION_FROM_CAMPAIGN)
        ):
            message = f"unknown field; the campaign's `{GENERATION_FROM_CAMPAIGN[location[-1]]}` sets it"
        elif item['type'] == 'extra_forbidden':
            allowed = _allowed_fields(location[:-1], root or CampaignConfig)
            message = 'unknown field' + (f'; allowed here: {", ".join(allowed)}' if allowed else '')
        lines.append(_line(path, message))
    return lines


def _path(location) -> str:
    """Return an error location as a field path: ``composition_points[2].Zr``, ``exploration.steps``."""
    path = ''
    for part in location:
        if part == '[key]':
            continue
        path += f'[{part}]' if isinstance(part, int) else (f'.{part}' if path else str(part))
    return path


def _format_lines(lines: list[str]) -> str:
    return 'invalid campaign file:\n  ' + '\n  '.join(lines)


def _allowed_fields(location, model: type[BaseModel]) -> list[str]:
    for part in location:
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return []
        annotation = model.model_fields[part].annotation
        model = next((arg for arg in getattr(annotation, '__args__', (annotation,)) if isinstance(arg, type)), None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return list(model.model_fields)


# -- checks across sections (pure: no AiiDA profile) -------------------------------------------------------------


def _generation_problems(config: CampaignConfig) -> list[str]:
    """Validate the generation spec the campaign builds (its sizes against its compositions, cells, ...).

    ``GenerationSpec`` names the fields it finds wrong in backticks; each is reported under its
    campaign path (``generation.<field>``, or the campaign's own field for the chemistry).
    """
    try:
        GenerationSpec.model_validate(config.generation_spec())
    except ValidationError as error:
        lines = []
        for item in error.errors():
            message = item['msg'].removeprefix('Value error, ')
            named = ['.'.join(map(str, item['loc']))] if item['loc'] else []
            match = re.match(r'^((?:`[^`]+`/?)+): (.*)$', message, re.S)
            if match:
                named += re.findall(r'`([^`]+)`', match.group(1))
                message = match.group(2)
            own = [name for name in named if re.split(r'[.\[]', name)[0] not in GENERATION_FROM_CAMPAIGN]
            campaign = [GENERATION_FROM_CAMPAIGN[re.split(r'[.\[]', name)[0]] for name in named if name not in own]
            if own:
                path = f'generation.{own[0]}'
                if campaign:
                    message += f" (with the campaign's `{campaign[0]}`)"
            else:
                path = campaign[0] if campaign else 'generation'
            lines.append(f'field `{path}`: {message}')
        return lines
    return []


def fit_parameters(config: CampaignConfig) -> dict:
    """Return the parameters of the campaign's first fit: the fit protocol's, merged with ``fit.overrides``."""
    from ..training.workchain import PacemakerWorkChain

    inputs = PacemakerWorkChain.get_protocol_inputs(config.fit.protocol, config.fit_overrides())
    return inputs['pacemaker']['parameters']


def _fit_problems(config: CampaignConfig) -> list[str]:
    """Validate the fit parameters (protocol + ``fit.overrides``) as pacemaker's ``PacemakerParameters``."""
    from ..training.pacemaker_io import PacemakerParameters, basis_shape_error

    prefix = 'fit.overrides.pacemaker.parameters'
    try:
        parameters = PacemakerParameters(**fit_parameters(config))
    except ValidationError as error:
        return _error_lines(error, prefix, root=PacemakerParameters)
    given = (config.fit.overrides.model_dump().get('pacemaker') or {}).get('parameters') or {}
    if 'basis_shape' in given:  # the protocols' default shape is known to build
        try:
            problem = basis_shape_error(parameters, config.elements)
        except ImportError:  # pyace absent here: PacemakerWorkChain checks it at each fit
            problem = None
        if problem:
            return [_line(prefix, '`' + problem.removeprefix('`parameters.'))]
    return []


def _contradictions(config: CampaignConfig) -> list[str]:
    """Return the fields that contradict another section."""
    lines = []
    if config.exploration.ensemble == 'nvt' and config.pressure_gpa != 0:
        lines.append(
            f'field `pressure_gpa`: {config.pressure_gpa} GPa is only applied by `exploration.ensemble: npt`; '
            'give 0 with nvt, or npt'
        )
    if 'barostat' in config.exploration.model_fields_set and config.exploration.ensemble == 'nvt':
        lines.append('field `exploration.barostat`: only used by `exploration.ensemble: npt`; leave it out with nvt')
    return lines


def campaign_problems(config: CampaignConfig) -> list[str]:
    """Return what is wrong across the sections of a campaign whose fields are each valid (no profile needed)."""
    return _generation_problems(config) + _fit_problems(config) + _contradictions(config)


def campaign_from_dict(data: dict) -> CampaignConfig:
    """Fill ``data`` from its protocol's preset and validate it; raise :class:`CampaignError` if wrong.

    Every field is checked, then what only the whole shows (:func:`campaign_problems`); the error
    names every wrong field with its path and what is allowed. Nothing here needs an AiiDA profile.
    """
    if not isinstance(data, dict):
        raise CampaignError('invalid campaign file: the top level must be a mapping of fields')
    protocol = data.get('protocol', 'balanced')
    if protocol not in PROTOCOLS:
        raise CampaignError(_format_lines([f'field `protocol`: `{protocol}` is not one of {", ".join(PROTOCOLS)}']))
    preset = {key: value for key, value in protocol_presets()[protocol].items() if key != 'description'}
    try:
        config = CampaignConfig.model_validate(deep_merge(preset, data))
    except ValidationError as error:
        raise CampaignError(_format_lines(_error_lines(error))) from None
    problems = campaign_problems(config)
    if problems:
        raise CampaignError(_format_lines(problems))
    return config


def load_campaign(path: str | Path) -> CampaignConfig:
    """Read and validate the campaign file at ``path``."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as error:
        raise CampaignError(f'campaign file {path} is not valid YAML: {error}') from None
    return campaign_from_dict(data)
