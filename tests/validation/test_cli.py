"""``mlip-autopipe validate`` on the fixture potential with the EMT labeller."""

from __future__ import annotations

from aiida import orm
from click.testing import CliRunner

from aiida_mlip_autopipe.cli import cli
from aiida_mlip_autopipe.data import AcePotential

from .test_properties import FIXTURE


def test_validate_prints_the_table_writes_the_plot_and_fails_on_a_tolerance(aiida_profile, python_code, tmp_path):
    potential = AcePotential.from_files(FIXTURE / 'potential.yaml', asi=FIXTURE / 'potential.asi').store()
    png, phonons = tmp_path / 'eos.png', tmp_path / 'phonons.png'
    arguments = ['-p', aiida_profile.name, 'validate', str(potential.pk), '--labeller', 'emt', '--elements', 'Cu']
    arguments += ['--python-code', python_code.full_label]
    arguments += ['--properties', 'eos', '--plot', str(png)]
    strict = CliRunner().invoke(cli, arguments)
    assert strict.exit_code == 1, strict.output
    assert 'Cu (element, Cu 1.000)\n  lattice_a (A)' in strict.output and 'FAILED: Cu bulk_modulus (+' in strict.output
    assert png.read_bytes()[:4] == b'\x89PNG' and 'phonon' not in strict.output
    arguments += ['--tolerance', 'bulk_modulus=0.5', '--phonon-plot', str(phonons)]
    loose = CliRunner().invoke(cli, [*arguments, '--properties', 'eos,phonons', '--phonon-supercell', '1'])
    assert loose.exit_code == 0, loose.output
    assert '  phonon_rmse (THz)' in loose.output
    assert loose.output.rstrip().endswith(f'EOS curves: {png}\nphonon bands: {phonons}')
    assert phonons.read_bytes()[:4] == b'\x89PNG'
    pk = int(loose.output.split('ValidationWorkChain<')[1].split('>')[0])
    assert orm.load_node(pk).outputs.report['cells']['Cu']['phonons']['supercell_atoms'] == 4  # the 4-atom cube


def test_validate_refuses_bad_arguments(aiida_profile, python_code):
    node = orm.Int(3).store()
    result = CliRunner().invoke(cli, ['-p', aiida_profile.name, 'validate', str(node.pk), '--labeller', 'emt'])
    assert result.exit_code == 2 and 'is a Int, not an AcePotential' in result.output
    potential = AcePotential.from_files(FIXTURE / 'potential.yaml').store()
    base = ['-p', aiida_profile.name, 'validate', str(potential.pk), '--labeller', 'emt']
    base += ['--python-code', python_code.full_label]  # other tests may have made other `python` codes
    result = CliRunner().invoke(cli, [*base, '--properties', 'eos,entropy'])
    assert result.exit_code == 2 and 'entropy; allowed: eos, elastic, vacancy, formation, phonons, md' in result.output
    result = CliRunner().invoke(cli, [*base, '--composition', 'Cu:0.5'])
    assert result.exit_code == 2 and 'give ELEMENT=FRACTION pairs' in result.output
    result = CliRunner().invoke(cli, [*base, '--composition', 'Cu=0.5,Au=0.6'])
    assert (
        result.exit_code == 1
        and '`compositions`: entry 0: fractions must be non-negative and sum to 1' in result.output
    )
    result = CliRunner().invoke(cli, [*base, '--lmp-code', 'no-such-lmp'])
    assert result.exit_code == 1 and 'code `no-such-lmp`' in result.output
    result = CliRunner().invoke(cli, [*base, '--python-code', 'no-such-python'])
    assert result.exit_code == 1 and 'code `no-such-python`' in result.output
    result = CliRunner().invoke(cli, [*base, '--tolerance', 'lattice=0.1'])
    assert result.exit_code == 1 and '`tolerances`: unknown tolerance lattice' in result.output
