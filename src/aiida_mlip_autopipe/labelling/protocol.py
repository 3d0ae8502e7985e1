"""Inputs of one ``PwBaseWorkChain`` labelling run, from a protocol name plus overrides."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
from aiida import orm
from aiida_quantumespresso.common.types import SpinType
from ase.units import Bohr, Ry

from ..common.mappings import deep_merge
from ..pseudos import PROTOCOL_STRINGENCY, check_family_covers

PROTOCOLS = tuple(PROTOCOL_STRINGENCY)
SPIN_CHOICES = ('auto', 'none', 'collinear')
#: Elements for which ``spin: auto`` turns on collinear spin polarisation.
MAGNETIC_ELEMENTS = frozenset({'Cr', 'Mn', 'Fe', 'Co', 'Ni'})
#: Force criterion of a relaxation (eV/A), as the ASE labeller's; pw.x's ``forc_conv_thr`` is in Ry/Bohr.
RELAX_FMAX = 0.01
#: spglib's tolerance (A) when counting irreducible k-points: looser than pw.x's, so never more k-points than pw.x.
IRREDUCIBLE_SYMPREC = 1e-3
#: Empty bands per atom a smeared run gets beyond pw.x's four (pw.x's default: 4, or 20 % of the occupied bands).
#: The bands above the Fermi level crowd in proportion to the cell's volume: with pw.x's default,
#: aiida-quantumespresso's occupation check found the highest band occupied in 8-atom Al6Mg2 frames (4 empty bands)
#: and in 4-atom Mg cells (4) and ran pw.x again with 4 more each time. A gapped system needs none: the override
#: ``empty_bands_per_atom: 0`` gives pw.x's default, which labels a 16-atom Si cell with 38 bands instead of 52 in
#: two thirds of the CPU time, with the same energy (1e-8 Ry) and forces (2e-6 Ry/Bohr) (2026-12-03), provided the
#: smearing is narrow enough for the top band to stay empty: at the ``fast`` protocol's 0.0275 Ry the occupation
#: check ran 3 of the first 10 8-atom Si cells again with 24 bands; at 0.01 Ry none.
EMPTY_BANDS_PER_ATOM = 1


def check_protocol(protocol: str) -> None:
    """Raise ``ValueError`` if ``protocol`` is not one of :data:`PROTOCOLS`."""
    if protocol not in PROTOCOLS:
        raise ValueError(f'unknown protocol `{protocol}`; allowed: {", ".join(PROTOCOLS)}')


def spin_type_for(elements, spin: str) -> SpinType:
    """Return the spin treatment: ``auto`` is collinear when a magnetic element is present."""
    if spin not in SPIN_CHOICES:
        raise ValueError(f'unknown spin `{spin}`; allowed: {", ".join(SPIN_CHOICES)}')
    if spin == 'collinear' or (spin == 'auto' and MAGNETIC_ELEMENTS.intersection(elements)):
        return SpinType.COLLINEAR
    return SpinType.NONE


#: What ``PwBaseWorkChain`` does after a failure none of its handlers knows: one more run with the same inputs.
ON_UNHANDLED_FAILURE = 'restart_once'


def get_pw_builder(
    code: orm.AbstractCode,
    structure: orm.StructureData,
    family,
    protocol: str = 'balanced',
    overrides: dict | None = None,
    options: dict | None = None,
    relax: bool = False,
):
    """Return a ``PwBaseWorkChain`` builder for an SCF label of ``structure`` (a relaxation with ``relax``).

    ``overrides`` follows aiida-quantumespresso's protocol overrides (for example
    ``{'kpoints_distance': 0.2, 'pw': {'parameters': {'SYSTEM': {'ecutwfc': 50, 'ecutrho': 400}}}}``)
    and may also hold ``spin`` (one of :data:`SPIN_CHOICES`). Cutoffs default to the family's
    recommended ones at the stringency of ``protocol``. With more than one MPI process per machine,
    pw.x gets k-point pools (``parallelization: {npool: N}``, pw.x's ``-nk N``): one per process, but
    never more than the irreducible k-points of the structure's mesh, and always a divisor of the
    processes (:func:`pool_count`); unless ``overrides`` give ``pw.parallelization`` or a command line in
    ``pw.settings``.

    With ``relax`` pw.x relaxes the atomic positions (``calculation: relax``, BFGS, cell fixed) until
    every force is below the protocol's ``forc_conv_thr`` and at most :data:`RELAX_FMAX` (0.01 eV/A,
    the ASE labeller's criterion), unless ``overrides`` set ``forc_conv_thr`` themselves.

    A smeared run gets four empty bands plus :data:`EMPTY_BANDS_PER_ATOM` per atom
    (:func:`smeared_band_count`) unless ``overrides`` set ``nbnd``, so that the occupation check seldom
    has to run pw.x again; ``overrides`` may give another number per atom as ``empty_bands_per_atom``
    (0 for a gapped system: pw.x's default).

    A pw.x run that fails in a way no aiida-quantumespresso handler knows (it crashed, was killed, left
    unreadable output: exit codes below 400) is run once more with the same inputs
    (``on_unhandled_failure: restart_once``, :data:`ON_UNHANDLED_FAILURE`; aiida-core's default aborts):
    such failures come from the machine more often than from the inputs. A second one in a row ends the run.
    """
    from aiida_quantumespresso.workflows.pw.base import PwBaseWorkChain

    check_protocol(protocol)
    overrides = copy.deepcopy(overrides or {})
    spin = overrides.pop('spin', 'auto')
    empty_bands_per_atom = overrides.pop('empty_bands_per_atom', EMPTY_BANDS_PER_ATOM)
    elements = {kind.symbol for kind in structure.kinds}
    check_family_covers(family, elements)
    ecutwfc, ecutrho = family.get_recommended_cutoffs(
        structure=structure, stringency=PROTOCOL_STRINGENCY[protocol], unit='Ry'
    )
    defaults = {
        'pseudo_family': family.label,
        'clean_workdir': True,
        'pw': {'parameters': {'SYSTEM': {'ecutwfc': ecutwfc, 'ecutrho': ecutrho}}},
    }
    builder = PwBaseWorkChain.get_builder_from_protocol(
        code,
        structure,
        protocol=protocol,
        overrides=deep_merge(defaults, overrides),
        spin_type=spin_type_for(elements, spin),
        options=options,
    )
    system = builder.pw.parameters['SYSTEM']
    if system.get('occupations') == 'smearing' and 'nbnd' not in system and not system.get('noncolin'):
        pseudos = family.get_pseudos(structure=structure)
        electrons = sum(pseudos[site.kind_name].z_valence for site in structure.sites)
        parameters = builder.pw.parameters.get_dict()
        parameters['SYSTEM']['nbnd'] = smeared_band_count(electrons, len(structure.sites), empty_bands_per_atom)
        builder.pw.parameters = orm.Dict(parameters)
    if relax:
        parameters = builder.pw.parameters.get_dict()
        control = parameters.setdefault('CONTROL', {})
        control['calculation'] = 'relax'
        if 'forc_conv_thr' not in overrides.get('pw', {}).get('parameters', {}).get('CONTROL', {}):
            ceiling = RELAX_FMAX / (Ry / Bohr)
            control['forc_conv_thr'] = min(float(control.get('forc_conv_thr', ceiling)), ceiling)
        builder.pw.parameters = orm.Dict(parameters)
    processes = builder.pw.metadata.options.get('resources', {}).get('num_mpiprocs_per_machine', 1)
    settings = builder.pw.settings.get_dict() if 'settings' in builder.pw else {}
    chosen = 'parallelization' in builder.pw or any(key.lower() == 'cmdline' for key in settings)
    if processes > 1 and not chosen:
        pools = pool_count(processes, builder_kpoint_count(builder, structure))
        if pools > 1:
            builder.pw.parallelization = orm.Dict({'npool': pools})
    builder.on_unhandled_failure = orm.Str(ON_UNHANDLED_FAILURE)
    return builder


def smeared_band_count(electrons: float, atoms: int, empty_bands_per_atom: int = EMPTY_BANDS_PER_ATOM) -> int:
    """Return the bands of a smeared run of ``atoms`` atoms with ``electrons`` valence electrons (not
    non-collinear): 4 + ``empty_bands_per_atom`` x ``atoms`` more than the occupied ones, or pw.x's
    default for metals (20 % more than the occupied, at least 4 more) where that is more."""
    occupied = math.floor(electrons / 2 + 0.5)  # pw.x's NINT
    return max(math.floor(1.2 * electrons / 2 + 0.5), occupied + 4 + empty_bands_per_atom * atoms)


def kpoint_mesh(atoms, distance: float) -> list[int]:
    """Return the k-point mesh ``PwBaseWorkChain`` makes from ``kpoints_distance`` (1/A, 2 pi included), as
    aiida's ``set_kpoints_mesh_from_density``: each reciprocal length over the distance, rounded to 5 digits,
    rounded up; 1 along non-periodic directions."""
    lengths = 2 * math.pi * np.linalg.norm(atoms.cell.reciprocal(), axis=1)
    return [
        max(1, math.ceil(round(length / distance, 5))) if periodic else 1
        for length, periodic in zip(lengths, atoms.pbc)
    ]


def relative_cost(atoms, distance: float, relax: bool = False) -> float:
    """Return a relative cost of a pw.x run: irreducible k-points x atoms cubed, four times that for a relaxation.

    Plane waves and bands both grow with the atoms, and the subspace diagonalisation and orthogonalisation as their
    product with the bands: in the Si demo (24 Ry, one core) a k-point of an 8-, 16- and 32-atom cell took 0.5, 4 and
    31 s of pw.x, a factor of 7.7-7.8 per doubling. Ratios matter where one structure outweighs the rest of its batch
    (:func:`~.workchain.window_places`); otherwise only the order does (largest runs start first).
    """
    kpoints = irreducible_kpoint_count(atoms, kpoint_mesh(atoms, distance))
    return kpoints * len(atoms) ** 3 * (4 if relax else 1)


def protocol_kpoints_distance(protocol: str, overrides: dict | None = None) -> float:
    """Return the ``kpoints_distance`` of ``protocol`` (aiida-quantumespresso's), or that of ``overrides``."""
    from aiida_quantumespresso.workflows.pw.base import PwBaseWorkChain

    if overrides and overrides.get('kpoints_distance') is not None:
        return float(overrides['kpoints_distance'])
    return float(PwBaseWorkChain.get_protocol_inputs(protocol)['kpoints_distance'])


def builder_kpoint_count(builder, structure: orm.StructureData) -> int:
    """Return a lower bound of the irreducible k-points pw.x will have for the ``PwBaseWorkChain`` ``builder``.

    The mesh is the one ``PwBaseWorkChain`` makes from ``kpoints_distance`` (aiida-quantumespresso's
    ``create_kpoints_from_distance``, called here without storing anything), or the ``kpoints`` given;
    an explicit list of k-points counts as it is. A mesh whose offset spglib cannot take (other than
    0 or 1/2 of a step) counts as 1.
    """
    if 'kpoints' in builder and builder.kpoints is not None:
        kpoints = builder.kpoints
    else:
        from aiida_quantumespresso.calculations.functions.create_kpoints_from_distance import (
            create_kpoints_from_distance,
        )

        parity = builder.get('kpoints_force_parity')
        kpoints = create_kpoints_from_distance.__wrapped__(
            structure, builder.kpoints_distance, parity if parity is not None else orm.Bool(False)
        )
    try:
        mesh, offset = kpoints.get_kpoints_mesh()
    except AttributeError:  # an explicit list
        return len(kpoints.get_kpoints())
    return irreducible_kpoint_count(structure.get_ase(), mesh, offset)


def irreducible_kpoint_count(atoms, mesh, offset=(0.0, 0.0, 0.0), symprec: float = IRREDUCIBLE_SYMPREC) -> int:
    """Return the number of k-points of ``mesh`` left after the crystal's symmetry and time reversal (spglib).

    ``offset`` is aiida's, in steps of the mesh: 0 (Gamma-centred) or 0.5 (half-shifted) per axis;
    any other offset gives 1, a bound that never overestimates. pw.x reduces the same mesh with
    the same operations, or with fewer of them (it drops fractional translations its FFT grid does not
    take, and doubles the k-points of a spin-polarised run); ``symprec`` is looser than pw.x's
    tolerance, so spglib finds at least pw.x's symmetry and the count is at most pw.x's. Where spglib
    fails the count is 1.
    """
    import spglib

    shift = [round(2 * value) for value in offset]
    if any(abs(2 * value - step) > 1e-8 or step not in (0, 1) for value, step in zip(offset, shift)):
        return 1
    cell = (np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers)
    with warnings.catch_warnings():  # spglib 2.5+ warns on its old error handling, which returns None
        warnings.simplefilter('ignore', DeprecationWarning)
        result = spglib.get_ir_reciprocal_mesh(
            np.asarray(mesh, dtype='intc'), cell, is_shift=shift, is_time_reversal=True, symprec=symprec
        )
    return 1 if result is None else len(np.unique(result[0]))


def pool_count(processes: int, kpoints: int) -> int:
    """Return pw.x's k-point pools (``-nk``): the largest divisor of ``processes`` that is at most ``kpoints``.

    pw.x refuses more pools than k-points, and its processes must divide evenly into pools.
    """
    if processes < 1 or kpoints < 1:
        raise ValueError(f'processes ({processes}) and k-points ({kpoints}) must be 1 or more')
    return max(pools for pools in range(1, min(processes, kpoints) + 1) if processes % pools == 0)
