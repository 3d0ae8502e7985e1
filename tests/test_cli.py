"""``mlip-autopipe setup`` on the test profile."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from aiida import orm
from aiida.common.exceptions import NotExistent
from click.testing import CliRunner

import aiida_mlip_autopipe
from aiida_mlip_autopipe.cli import cli


def test_setup_registers_computer_code_and_family_idempotently(aiida_profile):
    runner = CliRunner()
    arguments = ['-p', aiida_profile.name, 'setup', '--computer', 'cli-host', '--mpiprocs', '2']
    first = runner.invoke(cli, arguments)
    assert first.exit_code == 0, first.output
    assert 'pseudos   mlip-autopipe/debian-lda: Al, Au, Cu, Fe, Mg, Ni, Si, Ti' in first.output
    computer = orm.load_computer('cli-host')
    assert computer.get_mpirun_command()[:2] == ['mpirun', '--allow-run-as-root']
    assert computer.get_default_mpiprocs_per_machine() == 2
    code = orm.load_code('pw@cli-host')
    assert code.default_calc_job_plugin == 'quantumespresso.pw'
    # the plugin's own Python, for the task jobs, imports the plugin from where this process does
    python = orm.load_code('python@cli-host')
    assert python.default_calc_job_plugin == 'mlip_autopipe.python_task'
    assert str(python.filepath_executable) == sys.executable
    source = Path(aiida_mlip_autopipe.__file__).resolve().parents[1]
    assert python.prepend_text == f'export PYTHONPATH={source}'
    second = runner.invoke(cli, arguments)
    assert second.exit_code == 0, second.output
    assert orm.QueryBuilder().append(orm.InstalledCode, filters={'label': 'pw'}).count() >= 1
    assert second.output.replace('\n', '') == first.output.replace('\n', '')


def test_setup_reports_a_missing_executable(aiida_profile):
    result = CliRunner().invoke(
        cli, ['-p', aiida_profile.name, 'setup', '--computer', 'cli-host2', '--code', 'pw=no-pw.x']
    )
    assert result.exit_code != 0
    assert 'executable `no-pw.x` for code `pw` not found' in result.output


def test_setup_refuses_an_unknown_code_label(aiida_profile):
    result = CliRunner().invoke(cli, ['-p', aiida_profile.name, 'setup', '--code', 'vasp=/bin/true'])
    assert result.exit_code == 2
    assert 'give LABEL=PATH with LABEL one of pw' in result.output


def test_setup_refuses_a_lammps_without_ml_pace(aiida_profile, tmp_path):
    fake = tmp_path / 'lmp'
    fake.write_text('#!/bin/sh\necho "Installed packages:\\n\\nMANYBODY\\n\\n* Pair styles:\\n\\neam lj/cut"\n')
    fake.chmod(0o755)
    result = CliRunner().invoke(
        cli, ['-p', aiida_profile.name, 'setup', '--computer', 'cli-host3', '--code', f'lmp={fake}']
    )
    assert result.exit_code == 1
    assert 'pace/extrapolation' in result.output


def test_jobs_start_without_the_daemons_pythonpath(aiida_profile):
    """The daemon exports its sys.path as PYTHONPATH; the codes' own environments must not see it."""
    from aiida_mlip_autopipe.setup import ensure_localhost

    computer = ensure_localhost('cli-host4')
    assert computer.get_prepend_text().splitlines() == ['export OMP_NUM_THREADS=1', 'unset PYTHONPATH']
    computer.set_prepend_text('module load qe')
    assert ensure_localhost('cli-host4').get_prepend_text().splitlines() == ['module load qe', 'unset PYTHONPATH']


def test_localhost_runs_without_a_login_shell(aiida_profile):
    """A daemon killed mid-command must not leave every later `bash -l` waiting on a start-up file lock."""
    from aiida import orm

    from aiida_mlip_autopipe.setup import ensure_localhost

    user = orm.User.collection.get_default()
    computer = ensure_localhost('cli-host5')
    assert computer.get_authinfo(user).get_auth_params()['use_login_shell'] is False
    computer.configure(use_login_shell=True)  # a computer set up by an earlier version
    assert ensure_localhost('cli-host5').get_authinfo(user).get_auth_params()['use_login_shell'] is False


def test_setup_uses_an_existing_code_by_label_and_prints_the_codes_section(aiida_profile):
    from aiida_mlip_autopipe.setup import ensure_localhost

    computer = ensure_localhost('cli-host6')
    plugin = 'quantumespresso.pw'
    orm.InstalledCode(
        label='my-pw', computer=computer, filepath_executable='/usr/bin/pw.x', default_calc_job_plugin=plugin
    ).store()
    result = CliRunner().invoke(
        cli, ['-p', aiida_profile.name, 'setup', '--computer', 'cli-host6', '--code', 'pw=my-pw@cli-host6']
    )
    assert result.exit_code == 0, result.output
    assert 'code      my-pw@cli-host6 (registered before, used as it is)' in result.output
    assert 'codes:\n  pw: my-pw@cli-host6\n' in result.output
    assert '  lmp: lmp@cli-host6' in result.output
    with pytest.raises(NotExistent):  # nothing new registered for pw
        orm.load_code('pw@cli-host6')


def test_setup_refuses_an_existing_code_of_another_plugin(aiida_profile):
    from aiida_mlip_autopipe.setup import ensure_localhost

    computer = ensure_localhost('cli-host7')
    plugin = 'core.arithmetic.add'
    orm.InstalledCode(
        label='not-pw', computer=computer, filepath_executable='/bin/true', default_calc_job_plugin=plugin
    ).store()
    result = CliRunner().invoke(
        cli, ['-p', aiida_profile.name, 'setup', '--computer', 'cli-host7', '--code', 'pw=not-pw@cli-host7']
    )
    assert result.exit_code == 1
    assert 'registered for `core.arithmetic.add`; code `pw` needs one of quantumespresso.pw' in result.output


def test_setup_from_another_clone_re_points_the_python_code(aiida_profile):
    """The profile was set up from a clone elsewhere: its `python` code is relabelled, not an error."""
    from aiida_mlip_autopipe.setup import ensure_localhost

    computer = ensure_localhost('cli-host8')
    old = orm.InstalledCode(
        label='python',
        computer=computer,
        filepath_executable='/bin/true',  # stands for /elsewhere/.venv/bin/python3
        default_calc_job_plugin='mlip_autopipe.python_task',
        prepend_text='export PYTHONPATH=/elsewhere/src',
    ).store()
    result = CliRunner().invoke(cli, ['-p', aiida_profile.name, 'setup', '--computer', 'cli-host8'])
    assert result.exit_code == 0, result.output
    python = orm.load_code('python@cli-host8')
    assert str(python.filepath_executable) == sys.executable
    assert python.pk != old.pk
    assert orm.load_code(old.pk).label == f'python-superseded-{old.pk}'


def test_pacemaker_given_by_its_script_registers_the_python_of_its_environment(tmp_path):
    from aiida_mlip_autopipe.setup import pacemaker_python

    bin_dir = tmp_path / 'pace-env' / 'bin'
    bin_dir.mkdir(parents=True)
    python = bin_dir / 'python3.11'
    python.write_text('')
    for name in ('pacemaker', 'pace_yaml2yace', 'pace_activeset'):
        (bin_dir / name).write_text(f'#!{python}\nimport sys\n')
    assert pacemaker_python(str(bin_dir / 'pacemaker')) == str(python)
    assert pacemaker_python(str(python)) == str(python)
    (bin_dir / 'pace_activeset').unlink()
    with pytest.raises(FileNotFoundError, match='lacks pace_activeset'):
        pacemaker_python(str(bin_dir / 'pacemaker'))


def test_setup_takes_a_lammps_code_registered_for_aiida_lammps(aiida_profile):
    """The MD runs are aiida-lammps `lammps.raw` jobs: a code registered for aiida-lammps is used as it is."""
    from aiida_mlip_autopipe.setup import default_executable, ensure_localhost

    computer = ensure_localhost('cli-host8')
    executable = default_executable('lmp')
    orm.InstalledCode(
        label='lammps', computer=computer, filepath_executable=executable, default_calc_job_plugin='lammps.base'
    ).store()
    result = CliRunner().invoke(
        cli, ['-p', aiida_profile.name, 'setup', '--computer', 'cli-host8', '--code', 'lmp=lammps@cli-host8']
    )
    assert result.exit_code == 0, result.output
    assert 'code      lammps@cli-host8 (registered before, used as it is)' in result.output
    assert '  lmp: lammps@cli-host8' in result.output


def test_mpirun_leaves_each_job_free_to_use_every_core():
    """Each mpirun bound its rank to core 0, so two pw.x jobs side by side shared one core of two."""
    import os
    import subprocess

    from aiida_mlip_autopipe.setup import mpirun_command

    command = [part.format(tot_num_mpiprocs=1) for part in mpirun_command()]
    probe = [sys.executable, '-c', 'import os; print(len(os.sched_getaffinity(0)))']
    result = subprocess.run([*command, *probe], capture_output=True, text=True, timeout=120, check=True)
    assert int(result.stdout.split()[-1]) == len(os.sched_getaffinity(0))
