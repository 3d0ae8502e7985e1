"""``mlip-autopipe validate``: validate any ACE potential against a labeller, outside a campaign."""

from __future__ import annotations

from pathlib import Path

import click

PROPERTY_CHOICES = ('eos', 'elastic', 'vacancy', 'formation', 'phonons', 'md')


def _tolerances(values) -> dict:
    tolerances = {}
    for item in values:
        key, _, value = item.partition('=')
        try:
            tolerances[key] = float(value)
        except ValueError:
            raise click.BadParameter(f'give KEY=NUMBER, not `{item}`', param_hint='--tolerance') from None
    return tolerances


def _compositions(values) -> list[dict[str, float]] | None:
    compositions = []
    for item in values:
        composition = {}
        for part in item.split(','):
            element, _, fraction = part.partition('=')
            try:
                composition[element.strip()] = float(fraction)
            except ValueError:
                raise click.BadParameter(
                    f'give ELEMENT=FRACTION pairs separated by commas, not `{item}`', param_hint='--composition'
                ) from None
        compositions.append(composition)
    return compositions or None


@click.command()
@click.argument('potential_pk', type=int)
@click.option(
    '--labeller', type=click.Choice(['emt', 'qe']), default='qe', show_default=True, help='Reference: EMT or pw.x.'
)
@click.option('--elements', default=None, help="Comma-separated elements (default: the potential's).")
@click.option('--code', 'code_label', default='pw', show_default=True, help='pw.x code (labeller `qe`).')
@click.option('--pseudo-family', default=None, help='Pseudo family (labeller `qe`; default: the installed one).')
@click.option('--protocol', default=None, help='DFT protocol: fast, balanced or stringent (labeller `qe`).')
@click.option(
    '--properties',
    default=None,
    help=f'Comma-separated subset of {",".join(PROPERTY_CHOICES)} (default: all but `phonons` with `qe`; `md` '
    'needs --temperature-max).',
)
@click.option(
    '--composition',
    'composition_items',
    multiple=True,
    metavar='EL=X,EL=X',
    help='A composition of the disordered cells, e.g. Cu=0.75,Au=0.25. Repeatable (default: the equiatomic point).',
)
@click.option('--temperature-max', type=float, default=None, help='Highest temperature (K) of the MD stability runs.')
@click.option('--md-steps', type=int, default=None, help='MD steps per temperature (default 2000 of 2 fs).')
@click.option('--lmp-code', 'lmp_label', default=None, help='ML-PACE `lmp` code for the MD (default: pyace in ASE).')
@click.option(
    '--python-code',
    'python_label',
    default='python',
    show_default=True,
    help="The plugin's Python code: the potential's properties and the MD in ASE run as jobs with it.",
)
@click.option('--gamma-halt', type=float, default=None, help='MD halts above this extrapolation grade (default 10).')
@click.option(
    '--md-atoms', type=int, default=None, help='Smallest MD cell (default 256 atoms with --lmp-code, 32 in ASE).'
)
@click.option(
    '--tolerance',
    'tolerance_items',
    multiple=True,
    metavar='KEY=VALUE',
    help='Override a tolerance: lattice_a, bulk_modulus, elastic (relative), vacancy_energy (eV), '
    "formation_energy (eV/atom) or phonon_frequency (relative to the labeller's highest frequency). Repeatable.",
)
@click.option(
    '--phonon-supercell',
    type=int,
    default=None,
    help='Repeats of the conventional cell per direction for the phonons (default 2).',
)
@click.option('--seed', type=int, default=None, help='Seed of the MD runs.')
@click.option('--submit', 'to_daemon', is_flag=True, help='Submit to the daemon instead of running here.')
@click.option(
    '--plot',
    'plot_path',
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='Where to write the EOS comparison PNG (default: validation_<pk>_eos.png).',
)
@click.option(
    '--phonon-plot',
    'phonon_plot_path',
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='Where to write the phonon comparison PNG (default: validation_<pk>_phonons.png), with `phonons`.',
)
@click.pass_obj
def validate(
    obj,
    potential_pk,
    labeller,
    elements,
    code_label,
    pseudo_family,
    protocol,
    properties,
    composition_items,
    temperature_max,
    md_steps,
    lmp_label,
    python_label,
    gamma_halt,
    md_atoms,
    tolerance_items,
    phonon_supercell,
    seed,
    to_daemon,
    plot_path,
    phonon_plot_path,
):
    """Validate the ACE potential POTENTIAL_PK against a labeller: EOS, elastic constants, vacancy and formation
    energies, phonons, MD."""
    from aiida import load_profile, orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent
    from aiida.engine import run_get_node, submit

    from ..data import AcePotential
    from ..validation.plot import plot_eos_comparison, plot_phonon_comparison
    from ..validation.report import format_validation_table
    from ..validation.workchain import get_validation_builder

    load_profile(obj['profile'], allow_switch=True)
    potential = orm.load_node(potential_pk)
    if not isinstance(potential, AcePotential):
        raise click.BadParameter(f'node {potential_pk} is a {type(potential).__name__}, not an AcePotential')
    chosen = [name.strip() for name in properties.split(',')] if properties else None
    unknown = sorted(set(chosen or []) - set(PROPERTY_CHOICES))
    if unknown:
        raise click.BadParameter(
            f'{", ".join(unknown)}; allowed: {", ".join(PROPERTY_CHOICES)}', param_hint='--properties'
        )
    compositions, tolerances = _compositions(composition_items), _tolerances(tolerance_items)
    codes = {}
    labels = (('pw_code', code_label if labeller == 'qe' else None), ('lmp_code', lmp_label), ('python', python_label))
    for name, label in labels:
        try:
            codes[name] = orm.load_code(label) if label else None
        except (NotExistent, MultipleObjectsError) as exception:
            raise click.ClickException(f'code `{label}`: {exception}; run `mlip-autopipe setup`') from exception
    builder = get_validation_builder(
        potential,
        codes['python'],
        labeller=labeller,
        elements=[name.strip() for name in elements.split(',')] if elements else None,
        pw_code=codes['pw_code'],
        lmp_code=codes['lmp_code'],
        gamma_halt=gamma_halt,
        pseudo_family=pseudo_family,
        protocol=protocol,
        properties=chosen,
        compositions=compositions,
        md_atoms=md_atoms,
        temperature_max=temperature_max,
        md_steps=md_steps,
        tolerances=tolerances,
        phonon_supercell=phonon_supercell,
        seed=seed,
    )
    try:
        if to_daemon:
            node = submit(builder)
            click.echo(f'submitted ValidationWorkChain<{node.pk}>')
            return
        _, node = run_get_node(builder)
    except ValueError as exception:
        raise click.ClickException(str(exception)) from exception
    if 'report' not in node.outputs:
        raise click.ClickException(f'ValidationWorkChain<{node.pk}> gave no report: {node.exit_message}')
    report = node.outputs.report.get_dict()
    click.echo(f'ValidationWorkChain<{node.pk}> against `{labeller}`')
    click.echo(format_validation_table(report))
    png = plot_eos_comparison(report, plot_path or Path(f'validation_{node.pk}_eos.png'))
    click.echo(f'EOS curves: {png}')
    if report.get('phonon_bands'):
        png = plot_phonon_comparison(report, phonon_plot_path or Path(f'validation_{node.pk}_phonons.png'))
        click.echo(f'phonon bands: {png}')
    if not node.is_finished_ok:
        raise click.exceptions.Exit(1)
