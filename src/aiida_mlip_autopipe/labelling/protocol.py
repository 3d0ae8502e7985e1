"""Inputs of one ``PwBaseWorkChain`` labelling run, from a protocol name plus overrides."""

from __future__ import annotations

import copy

from aiida import orm
from aiida_quantumespresso.common.types import SpinType
from aiida_quantumespresso.workflows.protocols.utils import recursive_merge
from ase.units import Bohr, Ry

from ..pseudos import PROTOCOL_STRINGENCY, check_family_covers

PROTOCOLS = tuple(PROTOCOL_STRINGENCY)
SPIN_CHOICES = ('auto', 'none', 'collinear')
#: Elements for which ``spin: auto`` turns on collinear spin polarisation.
MAGNETIC_ELEMENTS = frozenset({'Cr', 'Mn', 'Fe', 'Co', 'Ni'})
#: Force criterion of a relaxation (eV/A), as the ASE labeller's; pw.x's ``forc_conv_thr`` is in Ry/Bohr.
RELAX_FMAX = 0.01


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
    pw.x gets one k-point pool per process.

    With ``relax`` pw.x relaxes the atomic positions (``calculation: relax``, BFGS, cell fixed) until
    every force is below the protocol's ``forc_conv_thr`` and at most :data:`RELAX_FMAX` (0.01 eV/A,
    the ASE labeller's criterion), unless ``overrides`` set ``forc_conv_thr`` themselves.
    """
    from aiida_quantumespresso.workflows.pw.base import PwBaseWorkChain

    check_protocol(protocol)
    overrides = copy.deepcopy(overrides or {})
    spin = overrides.pop('spin', 'auto')
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
        overrides=recursive_merge(defaults, overrides),
        spin_type=spin_type_for(elements, spin),
        options=options,
    )
    if relax:
        parameters = builder.pw.parameters.get_dict()
        control = parameters.setdefault('CONTROL', {})
        control['calculation'] = 'relax'
        if 'forc_conv_thr' not in overrides.get('pw', {}).get('parameters', {}).get('CONTROL', {}):
            ceiling = RELAX_FMAX / (Ry / Bohr)
            control['forc_conv_thr'] = min(float(control.get('forc_conv_thr', ceiling)), ceiling)
        builder.pw.parameters = orm.Dict(parameters)
    processes = builder.pw.metadata.options.get('resources', {}).get('num_mpiprocs_per_machine', 1)
    if processes > 1 and 'settings' not in builder.pw:
        builder.pw.settings = orm.Dict({'cmdline': ['-nk', str(processes)]})
    return builder
