"""A corpus of malformed campaign files: each is refused by `mlip-autopipe submit` before anything is stored.

Every file is the example (``examples/campaign_cuau.yaml``) with one row of edits: wrong, missing,
negative, unknown and contradictory values in every section. Each must be refused with a message
that names the field's path, and the profile must hold no new node afterwards. The same files go
through ``mlip-autopipe check`` (same messages, exit status 1) and the unedited example passes both
checks, so each refusal is the edit's.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from aiida import orm
from click.testing import CliRunner

from aiida_mlip_autopipe.cli import cli

EXAMPLE = Path(__file__).parents[2] / 'examples' / 'campaign_cuau.yaml'
DELETE = object()

#: The test profile's codes, by campaign field (registered by the `codes` fixture).
CODES = {
    'pw': 'pw@localhost-test',
    'pacemaker': 'pacemaker-check@localhost-test',
    'lmp': 'lmp-check@localhost-test',
}

#: (edits {dotted path: value or DELETE}, words the message must hold: the field's path first)
CORPUS = [
    # top level
    ({'name': ''}, ['field `name`', 'at least 1 character']),
    ({'name': DELETE}, ['field `name`', 'Field required']),
    ({'elements': DELETE}, ['field `elements`', 'Field required']),
    ({'elements': ['Cu', 'Xx']}, ['field `elements`', 'unknown element(s) Xx']),
    ({'elements': ['Cu', 'Cu']}, ['field `elements`', 'each element may appear once']),
    ({'elements': ['Cu', 'Au', 'Ni', 'Ag', 'Pd', 'Pt', 'Al']}, ['field `elements`', 'a campaign takes 1 to 6']),
    ({'composition.max': 1.5}, ['field `composition.max`', 'less than or equal to 1']),
    ({'composition.points': 0}, ['field `composition.points`', 'greater than or equal to 1']),
    ({'temperature.min': -10}, ['field `temperature.min`', 'greater than 0']),
    ({'temperature': {'min': 900, 'max': 300}}, ['field `temperature`', 'max (300.0) must not be below min']),
    ({'pressure_gpa': 1000}, ['field `pressure_gpa`', 'less than or equal to 500']),
    ({'protocol': 'precise'}, ['field `protocol`', 'not one of fast, balanced, stringent']),
    ({'labeller': 'vasp'}, ['field `labeller`', "'qe' or 'emt'"]),
    ({'seed': -1}, ['field `seed`', 'greater than or equal to 0']),
    ({'temprature': {'max': 900}}, ['field `temprature`', 'unknown field; allowed here: name, elements']),
    # targets and budgets
    ({'targets.force_rmse_mev_a': -1}, ['field `targets.force_rmse_mev_a`', 'greater than 0']),
    ({'targets.high_gamma_fraction': 2}, ['field `targets.high_gamma_fraction`', 'less than or equal to 1']),
    ({'targets.held_out_fraction': 0.7}, ['field `targets.held_out_fraction`', 'less than 0.5']),
    ({'budgets.iterations': 0}, ['field `budgets.iterations`', 'greater than or equal to 1']),
    ({'budgets.wall_time_hours': 'two'}, ['field `budgets.wall_time_hours`', 'valid number']),
    # dft: the section, its overrides (aiida-quantumespresso's protocol) and options (the pw.x jobs)
    ({'dft.max_concurent': 2}, ['field `dft.max_concurent`', 'unknown field; allowed here: protocol, overrides']),
    ({'dft.min_success_fraction': 1.5}, ['field `dft.min_success_fraction`', 'less than or equal to 1']),
    ({'dft.overrides.kpoints_distance': -0.5}, ['field `dft.overrides.kpoints_distance`', 'greater than 0']),
    ({'dft.overrides.kpoints_distanse': 0.5}, ['field `dft.overrides.kpoints_distanse`', 'allowed here: kpoints_d']),
    ({'dft.overrides.spin': 'up'}, ['field `dft.overrides.spin`', "'auto', 'none' or 'collinear'"]),
    ({'dft.overrides.empty_bands_per_atom': -1}, ['field `dft.overrides.empty_bands_per_atom`', 'greater than or']),
    (
        {'dft.overrides.pw.parameters.SYSTEM.ecutwfcc': 40},
        ['field `dft.overrides.pw.parameters.SYSTEM.ecutwfcc`', 'not a pw.x variable', 'did you mean ecutwfc'],
    ),
    ({'dft.overrides.pw.parameters.SYSTEM.ecutwfc': -30}, ['field `dft.overrides.pw.parameters.SYSTEM.ecutwfc`']),
    (
        {'dft.overrides.pw.parameters.SYSTEM': {'ecutwfc': 40, 'ecutrho': 100}},
        ['field `dft.overrides.pw.parameters.SYSTEM.ecutrho`', 'below 4 x `ecutwfc`'],
    ),
    (
        {'dft.overrides.pw.parameters.CONTROL.calculation': 'relax'},
        ['field `dft.overrides.pw.parameters.CONTROL.calculation`', 'allowed: scf'],
    ),
    (
        {'dft.overrides.pw.parameters.CONTROL.outdir': '/tmp'},
        ['field `dft.overrides.pw.parameters.CONTROL.outdir`', 'set by aiida-quantumespresso'],
    ),
    ({'dft.overrides.pw.parameters.IONS': {}}, ['field `dft.overrides.pw.parameters.IONS`', 'CONTROL, SYSTEM']),
    ({'dft.overrides.pseudo_family': 'SSSP'}, ['field `dft.overrides.pseudo_family`', 'dft.pseudo_family']),
    (
        {'dft.overrides.pw.parallelization': {'npool': 2}, 'dft.overrides.pw.settings': {'cmdline': ['-nk', '2']}},
        ['field `dft.overrides.pw.parallelization.npool`', 'also given in `settings.cmdline`'],
    ),
    ({'dft.options.max_wallclock_seconds': -60}, ['field `dft.options.max_wallclock_seconds`', 'greater than or']),
    ({'dft.options.resources.num_machines': 0}, ['field `dft.options.resources.num_machines`']),
    ({'dft.options.queue': 'debug'}, ['field `dft.options.queue`', 'allowed here: resources, max_wallclock']),
    (
        {'dft.options.resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 2, 'tot_num_mpiprocs': 3}},
        ['field `dft.options`', 'resources` is not valid for the `DirectScheduler`'],
    ),
    ({'dft.pseudo_family': 'no/such-family'}, ['field `dft.pseudo_family`', 'no/such-family']),
    # fit: pacemaker's parameters merged with the fit protocol
    ({'fit.protocol': 'huge'}, ['field `fit.protocol`', "'fast', 'balanced' or 'stringent'"]),
    ({'fit.final_refit': 'maybe'}, ['field `fit.final_refit`', 'valid boolean']),
    (
        {'fit.overrides.pacemaker.parameters.maxiter': 0},
        ['field `fit.overrides.pacemaker.parameters.maxiter`', 'greater than or equal to 1'],
    ),
    (
        {'fit.overrides.pacemaker.parameters.cutof': 5.0},
        ['field `fit.overrides.pacemaker.parameters.cutof`', 'unknown field; allowed here: cutoff'],
    ),
    (
        {'fit.overrides.pacemaker.parameters.embedding': 'sqrt'},
        ['field `fit.overrides.pacemaker.parameters.embedding`', "'linear' or 'finnis_sinclair'"],
    ),
    (
        {'fit.overrides.pacemaker.parameters.weighting': {'de_low': 5.0, 'de_up': 2.0}},
        ['field `fit.overrides.pacemaker.parameters.weighting`', 'must be larger than `de_low`'],
    ),
    (
        {
            'fit.overrides.pacemaker.parameters.basis_shape': {
                'ALL': {'nradmax_by_orders': [15, 3, 2, 2, 2, 2], 'lmax_by_orders': [0, 2, 2, 1, 1, 1]}
            }
        },
        ['field `fit.overrides.pacemaker.parameters.basis_shape`', 'pyace cannot build this basis'],
    ),
    ({'fit.overrides.maxiter': 20}, ['field `fit.overrides.maxiter`', 'fit.overrides.pacemaker.parameters']),
    (
        {'fit.overrides.pacemaker.metadata.options.max_wallclock_seconds': 0},
        ['field `fit.overrides.pacemaker.metadata.options.max_wallclock_seconds`', 'greater than or equal to 1'],
    ),
    # exploration and screening
    ({'exploration.gamma_upper': -1}, ['field `exploration.gamma_upper`', 'greater than 0']),
    ({'exploration.gamma_lower': 20.0}, ['field `exploration`', 'gamma_upper (10.0) must exceed gamma_lower']),
    ({'exploration.ensemble': 'nve'}, ['field `exploration.ensemble`', "'nvt' or 'npt'"]),
    ({'exploration.steps': 5}, ['field `exploration.steps`', 'greater than or equal to 10']),
    ({'exploration.timestep_fs': 50}, ['field `exploration.timestep_fs`', 'less than or equal to 10']),
    ({'exploration.swaps.every': 0}, ['field `exploration.swaps.every`', 'greater than or equal to 1']),
    ({'exploration.selection': 'random'}, ['field `exploration.selection`', "'maxvol' or 'farthest_point'"]),
    ({'exploration.label_atoms_max': 32}, ['field `exploration`', 'label_atoms_max needs label_atoms']),
    (
        {'exploration.label_atoms': 16, 'exploration.label_atoms_max': 8},
        ['field `exploration`', 'label_atoms_max (8) is smaller than label_atoms (16)'],
    ),
    ({'exploration.ensemble': 'nvt', 'pressure_gpa': 2.0}, ['field `pressure_gpa`', 'exploration.ensemble: npt']),
    ({'screening.select': 0}, ['field `screening.select`', 'greater than or equal to 1']),
    # validation
    ({'validation.properties': ['md']}, ['field `validation.properties`', 'give `eos`']),
    ({'validation.properties': ['eos', 'entropy']}, ['field `validation.properties[1]`', "'eos', 'elastic'"]),
    ({'validation.phonon_supercell': 0}, ['field `validation.phonon_supercell`', 'greater than or equal to 1']),
    ({'validation.sqs_supercell': 4}, ['field `validation.sqs_supercell`', 'less than or equal to 3']),
    ({'validation.tolerances.lattice_a': -0.01}, ['field `validation.tolerances.lattice_a`', 'greater than 0']),
    ({'validation.tolerances.lattice': 0.01}, ['field `validation.tolerances.lattice`', 'allowed here: lattice_a']),
    ({'validation.md_steps': 1}, ['field `validation.md_steps`', 'greater than or equal to 10']),
    # generation: the generation stage's spec, checked whole with the campaign's chemistry
    ({'generation.counts.rattle': -3}, ['field `generation.counts.rattle`', 'greater than or equal to 0']),
    ({'generation.counts.rattel': 3}, ['field `generation.counts.rattel`', 'allowed here: sqs, ordered']),
    ({'generation.max_atoms': 0}, ['field `generation.max_atoms`', 'greater than or equal to 1']),
    ({'generation.lattices': ['diamond']}, ['field `generation.lattices[0]`', "'fcc', 'bcc' or 'hcp'"]),
    ({'generation.elements': ['Cu']}, ['field `generation.elements`', "unknown field; the campaign's `elements`"]),
    ({'generation.sqs_sizes': [6]}, ['field `generation.sqs_sizes`', 'exceeds `max_atoms` 4']),
    ({'generation.sqs_sizes': [3]}, ['field `generation.sqs_sizes`', 'cannot be realised', '`composition`']),
    ({'generation.defect_cell_atoms': 16}, ['field `generation.defect_cell_atoms`', 'exceeds `max_atoms` 4']),
    ({'generation.strain_range': [0.1, -0.1]}, ['field `generation.strain_range`', 'must be increasing']),
    ({'generation.rattle_stdevs': [-0.1]}, ['field `generation.rattle_stdevs`', 'must be positive']),
    (
        {'generation.lattice_constants': {'fcc': 1.0}},
        ['field `generation.lattice_constants.fcc`', 'closer than `min_distance`'],
    ),
    # codes: each must be set up and run the plugin of its field
    ({'codes.pw': CODES['lmp']}, ['field `codes.pw`', 'needs a `quantumespresso.pw` code']),
    ({'codes.lmp': CODES['pw']}, ['field `codes.lmp`', 'needs a `lammps.raw` or `lammps.base` or']),
    ({'codes.pacemaker': 'nothing@nowhere'}, ['field `codes.pacemaker`', 'is not set up']),
    (
        {'codes.lmp': 'lmp-gone@localhost-test'},
        ['field `codes.lmp`', '`/gone/bin/lmp`, which is not an executable', 'setup'],
    ),
    ({'codes.cp2k': 'cp2k@localhost'}, ['field `codes.cp2k`', 'allowed here: pw, pacemaker, lmp, surrogate']),
]


def _edited(edits: dict) -> dict:
    data = yaml.safe_load(EXAMPLE.read_text())
    data['codes'] = dict(CODES)
    for path, value in edits.items():
        *parents, last = path.split('.')
        section = data
        for part in parents:
            section = section.setdefault(part, {})
        if value is DELETE:
            section.pop(last)
        else:
            section[last] = copy.deepcopy(value)
    return data


def _node_count() -> int:
    return orm.QueryBuilder().append(orm.Node).count()


@pytest.fixture(scope='module')
def codes(localhost, pw_code, python_code, pseudo_family):
    """pw.x, and pacemaker and lmp codes that are never run, as the corpus' base file names them."""
    from aiida.common.exceptions import NotExistent

    for field, plugin in (('pacemaker', 'mlip_autopipe.pacemaker'), ('lmp', 'mlip_autopipe.lammps.md')):
        label = CODES[field].split('@')[0]
        try:
            orm.load_code(CODES[field])
        except NotExistent:
            orm.InstalledCode(
                label=label, computer=localhost, filepath_executable='/bin/true', default_calc_job_plugin=plugin
            ).store()
    try:  # a code whose executable is gone, as after the clone that registered it was deleted
        orm.load_code('lmp-gone@localhost-test')
    except NotExistent:
        orm.InstalledCode(
            label='lmp-gone',
            computer=localhost,
            filepath_executable='/gone/bin/lmp',
            default_calc_job_plugin='mlip_autopipe.lammps.md',
        ).store()
    return CODES


def _invoke(profile, command: str, path: Path):
    return CliRunner().invoke(cli, ['-p', profile.name, command, str(path)])


def test_the_corpus_is_large_and_covers_every_section():
    assert len(CORPUS) >= 40
    sections = {path.split('.')[0] for edits, _ in CORPUS for path in edits}
    assert {'generation', 'fit', 'dft', 'exploration', 'validation', 'codes', 'targets', 'budgets'} <= sections
    assert all(words[0].startswith('field `') for _, words in CORPUS)


def test_the_unedited_example_passes_every_check(aiida_profile, codes, tmp_path):
    path = tmp_path / 'campaign.yaml'
    path.write_text(yaml.safe_dump(_edited({})))
    result = _invoke(aiida_profile, 'check', path)
    assert result.exit_code == 0, result.output
    assert 'fields      ok' in result.output and 'resources   ok' in result.output


@pytest.mark.parametrize(('edits', 'words'), CORPUS, ids=[' '.join(f'{path}' for path in edits) for edits, _ in CORPUS])
def test_malformed_campaign_is_refused_before_anything_is_stored(aiida_profile, codes, tmp_path, edits, words):
    path = tmp_path / 'campaign.yaml'
    path.write_text(yaml.safe_dump(_edited(edits)))
    before = _node_count()
    for command in ('submit', 'check'):
        result = _invoke(aiida_profile, command, path)
        assert result.exit_code == 1, f'`{command}` accepted {edits}:\n{result.output}'
        for word in words:
            assert word in result.output, f'`{command}` on {edits}: {word!r} not in\n{result.output}'
        assert 'Traceback' not in result.output
    assert _node_count() == before, f'{edits}: a node was stored before the refusal'
