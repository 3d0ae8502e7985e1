"""The plugin as a user of an existing AiiDA installation gets it: a wheel, installed with pip elsewhere.

The wheel (and the sdist it is built from) is built from this checkout and installed into a fresh
virtual environment in a temporary folder, outside the repository. To stay quick and offline the
new environment reuses the dependencies this test runs with (a ``.pth`` file to a folder of links
to them, without this repository or any installed copy of the plugin); pip then installs the wheel
with ``--no-index``, which fails if a declared dependency is missing. In that environment, with a
new AiiDA profile (``verdi presto``) in a temporary ``AIIDA_PATH``: the plugins are listed by
``verdi plugin list``, ``mlip-autopipe install-codes`` runs the installer scripts shipped in the
wheel (finding the built environments in the cache), ``mlip-autopipe setup`` registers ``pw.x``,
``lmp``, pacemaker and the surrogate given by path, and a two-iteration EMT campaign runs to its
budget and is exported.

Run alone with ``bash scripts/run_tests.sh -m install`` (about 5 minutes, most of it three fits).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import site
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import tomllib

from aiida_mlip_autopipe.setup import default_executable

pytestmark = pytest.mark.install

REPO = Path(__file__).resolve().parents[1]
PACKAGE = 'aiida_mlip_autopipe'


def run(command: list[str], timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run ``command``; fail the test with its output unless it exits 0."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    shown = ' '.join(map(str, command))
    assert result.returncode == 0, f'{shown} exited {result.returncode}:\n{result.stdout}\n{result.stderr}'
    return result


def dependency_dirs() -> list[Path]:
    """Return where this interpreter finds its packages: ``PYTHONPATH`` entries, then site-packages (no checkout)."""
    extra = [Path(p) for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    dirs = [*extra, *map(Path, site.getsitepackages())]
    return [d.resolve() for d in dirs if d.is_dir() and not (d / PACKAGE / '__init__.py').is_file()]


def distribution_name(entry: Path) -> str | None:
    """Return the normalised project name of a ``*.dist-info``/``*.egg-info`` folder, else None."""
    if entry.suffix not in {'.dist-info', '.egg-info'}:
        return None
    return re.sub(r'[-_.]+', '-', entry.name.split('-')[0]).lower()


def link_dependencies(target: Path) -> None:
    """Fill ``target`` with links to every installed package except this plugin (first folder wins).

    A distribution found in an earlier folder hides its other versions' metadata in later ones,
    as on ``sys.path``.
    """
    target.mkdir()
    distributions = set()
    for folder in dependency_dirs():
        for entry in sorted(folder.iterdir()):
            name = entry.name
            if name.startswith((PACKAGE, '__editable__', '__pycache__')) or name in {'bin'} or (target / name).exists():
                continue
            project = distribution_name(entry)
            if project is not None:
                if project in distributions:
                    continue
                distributions.add(project)
            (target / name).symlink_to(entry)


@pytest.fixture(scope='module')
def dist(tmp_path_factory) -> Path:
    """The sdist, and the wheel built from that sdist (``python -m build``, no network)."""
    out = tmp_path_factory.mktemp('dist')
    run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', str(out), str(REPO)])
    return out


@pytest.fixture(scope='module')
def fresh_env(dist, tmp_path_factory) -> dict:
    """A new virtual environment outside the repository with the wheel installed, and a new AiiDA profile."""
    root = tmp_path_factory.mktemp('fresh')
    venv = root / 'venv'
    run([sys.executable, '-m', 'venv', '--without-pip', str(venv)])
    python = venv / 'bin' / 'python'
    purelib = Path(run([str(python), '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))']).stdout.strip())
    link_dependencies(root / 'deps')
    (purelib / '_dependencies.pth').write_text(f'import site; site.addsitedir({str(root / "deps")!r})\n')
    env = {key: value for key, value in os.environ.items() if key not in {'PYTHONPATH', 'VIRTUAL_ENV'}}
    env.update(AIIDA_PATH=str(root / 'aiida'), PATH=f'{venv / "bin"}{os.pathsep}{env["PATH"]}')
    (wheel,) = dist.glob('*.whl')
    run([str(python), '-m', 'pip', 'install', '--no-index', '--no-cache-dir', str(wheel)], env=env, cwd=root)
    run([str(python), '-m', 'aiida', 'presto', '--profile-name', 'wheel', '--use-zeromq'], env=env, cwd=root)
    return {'root': root, 'venv': venv, 'python': python, 'env': env}


def in_env(fresh_env, *command, timeout: float = 600) -> str:
    """Run a command of the fresh environment's ``bin`` (or its Python's module) there; return its stdout."""
    executable = fresh_env['venv'] / 'bin' / command[0]
    return run([str(executable), *command[1:]], timeout=timeout, env=fresh_env['env'], cwd=fresh_env['root']).stdout


def test_wheel_holds_every_file_of_the_package(dist):
    """Protocols, pseudopotential table, installer scripts, job scripts: every packaged file is in the wheel."""
    (wheel,) = dist.glob('*.whl')
    (sdist,) = dist.glob('*.tar.gz')
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = run(['git', 'ls-files', f'src/{PACKAGE}'], cwd=REPO).stdout.split()
    expected = {str(Path(path).relative_to('src')) for path in tracked}
    assert expected - names == set()
    for name in (
        'campaign/protocols.yaml',
        'training/protocols/pacemaker.yaml',
        'pseudos/debian_lda.json',
        'screening/surrogate_run.py',
        'installers/pacemaker.sh',
        'installers/lammps.sh',
        'installers/pace-CMakeLists.txt',
        'installers/surrogate.sh',
        'installers/debian.sh',
    ):
        assert f'{PACKAGE}/{name}' in names
    # every entry point declared in pyproject.toml, and the command
    parser = configparser.ConfigParser(delimiters=('=',))
    parser.optionxform = str
    parser.read_string(zipfile.ZipFile(wheel).read(f'{PACKAGE}-0.1.0.dist-info/entry_points.txt').decode())
    project = tomllib.loads((REPO / 'pyproject.toml').read_text())['project']
    declared = {**project['entry-points'], 'console_scripts': project['scripts']}
    assert {group: dict(parser[group]) for group in parser.sections()} == declared
    assert sdist.stat().st_size > 0


def test_installed_wheel_is_what_the_fresh_environment_imports(fresh_env):
    where = in_env(fresh_env, 'python', '-c', 'import aiida_mlip_autopipe as m, aiida_lammps; print(m.__file__)')
    assert Path(where.strip()).is_relative_to(fresh_env['venv'])
    assert not Path(where.strip()).is_relative_to(REPO)


def test_verdi_lists_the_work_chains_with_their_help(fresh_env):
    declared = tomllib.loads((REPO / 'pyproject.toml').read_text())['project']['entry-points']['aiida.workflows']
    listed = in_env(fresh_env, 'python', '-m', 'aiida', 'plugin', 'list', 'aiida.workflows')
    for name in declared:
        assert f'* {name}' in listed
        shown = in_env(fresh_env, 'python', '-m', 'aiida', 'plugin', 'list', 'aiida.workflows', name)
        description = shown.split('Description:')[1].split('Inputs:')[0].strip()
        assert len(description) > 20, (name, shown)
        assert 'Outputs:' in shown and 'Exit codes:' in shown
    shown = in_env(fresh_env, 'python', '-m', 'aiida', 'plugin', 'list', 'aiida.workflows', 'mlip_autopipe.campaign')
    assert 'Produce a validated ACE potential from a campaign file' in shown and 'held_out_set' in shown


def test_install_codes_runs_the_scripts_shipped_in_the_wheel(fresh_env):
    """The environments exist in the cache already (make setup built them): each script checks and returns."""
    code = 'from aiida_mlip_autopipe.installers import script_path; print(script_path("lammps"))'
    shipped = in_env(fresh_env, 'python', '-c', code)
    assert Path(shipped.strip()).is_relative_to(fresh_env['venv'])
    output = in_env(fresh_env, 'mlip-autopipe', 'install-codes', 'pacemaker', 'lammps', 'surrogate')
    for label in ('pacemaker', 'lmp', 'surrogate'):
        assert f'code      {label} -> {default_executable(label)}' in output


def test_two_iteration_emt_campaign_with_codes_given_by_path(fresh_env):
    pacemaker_script = Path(default_executable('pacemaker')).parent / 'pacemaker'
    codes = {
        'pw': '/usr/bin/pw.x',
        'lmp': default_executable('lmp'),
        'pacemaker': str(pacemaker_script),  # the script: setup registers the Python of its #! line
        'surrogate': default_executable('surrogate'),
    }
    # the Python the `pacemaker` script runs with (its #! line), which setup registers
    pacemaker_python = pacemaker_script.read_text().splitlines()[0][2:].strip()
    assert Path(pacemaker_python).parent == pacemaker_script.parent
    arguments = [f'--code={label}={path}' for label, path in codes.items()]
    output = in_env(fresh_env, 'mlip-autopipe', 'setup', *arguments)
    assert f'code      pacemaker@localhost -> {pacemaker_python}\n' in output
    assert f'code      lmp@localhost -> {codes["lmp"]}' in output

    root = fresh_env['root']
    (root / 'campaign.yaml').write_text(
        textwrap.dedent(
            """\
            name: wheel-emt
            elements: [Cu, Au]
            composition: {min: 0.0, max: 1.0, points: 3}
            temperature: {min: 300, max: 1200, points: 2}
            protocol: fast
            labeller: emt
            seed: 3
            targets: {force_rmse_mev_a: 1.0, high_gamma_fraction: 0.0}
            budgets: {iterations: 2, dft_calculations: 200, wall_time_hours: 1.0}
            exploration: {steps: 1000, max_selected: 6}
            # more rattled and randomly strained cells than the preset: distinct atomic environments
            # keep pace_activeset's matrix regular on so small a training set
            generation: {counts: {rattle: 8, random_strain: 5}}
            validation: {properties: [eos]}
            """
        )
    )
    submitted = in_env(fresh_env, 'mlip-autopipe', 'submit', 'campaign.yaml', '--foreground', timeout=1500)
    pk = int(submitted.split('ActiveLearningWorkChain<')[1].split('>')[0])
    facts = json.loads(
        in_env(
            fresh_env,
            'python',
            '-c',
            textwrap.dedent(
                f"""\
                import json
                from aiida import load_profile, orm
                load_profile()
                from aiida.cmdline.utils.common import get_workchain_report
                node = orm.load_node({pk})
                summary = node.outputs.summary.get_dict() if 'summary' in node.outputs else {{}}
                codes = sorted({{str(n.inputs.code.filepath_executable) for n in node.called_descendants
                                 if isinstance(n, orm.CalcJobNode)}})
                print(json.dumps({{'exit_status': node.exit_status, 'message': node.exit_message,
                                  'iterations': [row['iteration'] for row in summary.get('iterations', [])],
                                  'codes': codes, 'potential': 'potential' in node.outputs,
                                  'report': get_workchain_report(node, 'REPORT')}}))
                """
            ),
        )
    )
    assert facts['exit_status'] == 401, facts['report']  # ERROR_BUDGET_EXHAUSTED: the budget ended it
    assert 'iteration budget spent (2 of 2)' in facts['message']
    assert facts['iterations'] == [0, 1, 2]
    assert facts['potential']
    # the plugin's own Python jobs (the selection, the validation's properties) run with the installed venv's python
    assert facts['codes'] == sorted({codes['lmp'], pacemaker_python, str(fresh_env['python'])})

    status = in_env(fresh_env, 'mlip-autopipe', 'status', str(pk))
    assert 'stopped: iteration budget spent (2 of 2)' in status
    exported = in_env(fresh_env, 'mlip-autopipe', 'export', str(pk), str(root / 'export'))
    assert 'metadata.json' in exported and (root / 'export' / 'potential.yace').is_file()
