"""DFT labelling on the production stack: PostgreSQL storage, RabbitMQ, the daemon, and Slurm.

Each work chain is submitted to the daemon (never run in this process) and labels tiny Al cells with
the real pw.x. The daemon test kills the daemon with SIGKILL while a pw.x job waits in Slurm,
restarts it, and checks that everything finishes and that no DFT calculation ran twice.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.engine import submit
from aiida.plugins import CalculationFactory
from ase.build import bulk

from aiida_mlip_autopipe.labelling.workchain import DftLabellingWorkChain

from .conftest import DAEMON_WORKERS, is_alive, kill_daemon

pytestmark = [pytest.mark.production, pytest.mark.slow, pytest.mark.timeout(2400)]

PwCalculation = CalculationFactory('quantumespresso.pw')
#: Al lattice parameters (A) around the LDA equilibrium of Al.pz-vbc (about 3.98 A): compressed, near, stretched
LATTICE = {'al_compressed': 3.80, 'al_equilibrium': 3.98, 'al_stretched': 4.20}
TIMEOUT = 300


def al_cells(lattice: dict[str, float]) -> dict[str, orm.StructureData]:
    return {key: orm.StructureData(ase=bulk('Al', 'fcc', a=a)) for key, a in lattice.items()}


def diagnose(node: orm.ProcessNode, daemon=None) -> str:
    """What a stuck process tree looks like: every unfinished node, its log, the scheduler's view, the daemon."""
    lines = []
    for child in [node, *node.called_descendants]:
        if child.is_terminated:
            continue
        line = f'{child.process_label}<{child.pk}> {child.process_state}: {child.process_status}'
        if isinstance(child, orm.CalcJobNode):
            job = child.get_job_id()
            line += f' (job {job}, calc state {child.get_state()}, scheduler {child.get_scheduler_state()})'
            if job and child.computer.scheduler_type == 'core.slurm':
                command = ['squeue', '-h', '-o', '%i %T', f'--jobs={job},{job}']
                squeue = subprocess.run(command, capture_output=True, text=True, check=False)
                line += f' squeue rc={squeue.returncode} {squeue.stdout.strip()!r} {squeue.stderr.strip()!r}'
        lines.append(line)
        logs = orm.Log.collection.get_logs_for(child)
        lines.extend(f'    log: {entry.levelname} {entry.message[:300]}' for entry in logs)
    if daemon is not None:
        try:
            lines.append(f'daemon pid {daemon.get_daemon_pid()}, workers {list(daemon.get_worker_info()["info"])}')
        except Exception as exception:
            lines.append(f'daemon does not answer: {exception}')
        log = Path(daemon.daemon_log_file)
        if log.exists():
            lines.append('daemon log tail:\n' + '\n'.join(log.read_text(errors='replace').splitlines()[-40:]))
    return '\n'.join(lines)


def wait_for(node: orm.ProcessNode, timeout: float = TIMEOUT, daemon=None) -> None:
    deadline = time.monotonic() + timeout
    while not node.is_terminated:
        if time.monotonic() > deadline:
            raise TimeoutError(f'{node.process_label}<{node.pk}> not done after {timeout} s:\n{diagnose(node, daemon)}')
        time.sleep(0.5)


def pw_calculations(workchain: orm.WorkChainNode) -> list[orm.CalcJobNode]:
    """Every PwCalculation below ``workchain`` (through its PwBaseWorkChains)."""
    return [
        node
        for node in workchain.called_descendants
        if isinstance(node, orm.CalcJobNode) and node.process_class is PwCalculation
    ]


def runs_in(log) -> list[tuple[str, str]]:
    """(job id, working directory) of every pw.x job that started, from the computer's prepend text."""
    return [tuple(line.split(' ', 1)) for line in log.read_text().splitlines()] if log.exists() else []


def submit_labelling(code, lattice, **inputs) -> orm.WorkChainNode:
    return submit(
        DftLabellingWorkChain,
        structures=al_cells(lattice),
        code=code,
        protocol=orm.Str('fast'),
        **inputs,
    )


def check_labels(workchain: orm.WorkChainNode, lattice: dict[str, float]) -> dict:
    """The physics of the labels: E(a) has its minimum near equilibrium; compression gives compressive stress."""
    assert workchain.exit_status == 0, workchain.exit_message
    training_set = workchain.outputs.training_set
    assert training_set.count == len(lattice)
    assert workchain.outputs.failures.get_dict() == {}
    frames = {atoms.info['config_type']: atoms for atoms in training_set.iter_atoms()}
    assert set(frames) == set(lattice)
    energy = {key: atoms.get_potential_energy() for key, atoms in frames.items()}
    assert energy['al_equilibrium'] < energy['al_compressed']
    assert energy['al_equilibrium'] < energy['al_stretched']
    # ASE sign: a compressed cell pushes outwards (negative stress), a stretched one pulls (positive)
    assert np.all(frames['al_compressed'].get_stress()[:3] < -0.005)
    assert np.all(frames['al_stretched'].get_stress()[:3] > 0.002)
    return frames


def test_profile_is_postgresql_and_rabbitmq(production_profile, production_daemon):
    """The profile under test is the production kind, and its daemon runs the requested workers."""
    from aiida.manage import get_manager

    assert production_profile.storage_backend == 'core.psql_dos'
    assert production_profile.process_control_backend == 'core.rabbitmq'
    assert get_manager().get_profile().name == production_profile.name
    assert production_daemon.is_daemon_running
    assert len(production_daemon.get_worker_info()['info']) == DAEMON_WORKERS


def test_labelling_through_the_daemon(production_codes, production_daemon, runs_dir):
    """Three Al cells labelled by pw.x in the daemon on the direct scheduler; each job ran once."""
    node = submit_labelling(production_codes['direct-prod'], LATTICE, max_concurrent=orm.Int(3))
    wait_for(node)
    check_labels(node, LATTICE)
    calculations = pw_calculations(node)
    assert len(calculations) == len(LATTICE)
    assert {calc.computer.scheduler_type for calc in calculations} == {'core.direct'}
    runs = runs_in(runs_dir / 'direct.log')
    assert sorted(directory for _, directory in runs) == sorted(calc.get_remote_workdir() for calc in calculations)


def test_labelling_through_slurm(production_codes, production_daemon, runs_dir):
    """The same labelling with every pw.x job submitted to Slurm with sbatch; job ids match the jobs that ran."""
    node = submit_labelling(production_codes['slurm-prod'], LATTICE, max_concurrent=orm.Int(3))
    wait_for(node)
    frames = check_labels(node, LATTICE)
    calculations = pw_calculations(node)
    assert len(calculations) == len(LATTICE)
    assert {calc.computer.scheduler_type for calc in calculations} == {'core.slurm'}
    assert all(calc.get_job_id().isdigit() for calc in calculations)
    runs = runs_in(runs_dir / 'slurm.log')
    assert sorted(runs) == sorted((calc.get_job_id(), calc.get_remote_workdir()) for calc in calculations)
    # Slurm's own output file of each job is retrieved beside pw.x's
    for calc in calculations:
        assert '_scheduler-stdout.txt' in calc.outputs.retrieved.base.repository.list_object_names()
    assert len(frames) == 3


def test_daemon_killed_and_restarted(production_codes, production_daemon, runs_dir):
    """SIGKILL to the daemon and its workers while a pw.x job is in Slurm; after a restart all finish, none twice."""
    lattice = {f'al_{index}': a for index, a in enumerate((3.90, 3.98, 4.06))}
    code = production_codes['slurm-kill']
    # the daemon's sbatch/squeue shells read no start-up files: a shell killed with the daemon while
    # `pyenv rehash` (from ~/.bashrc) held its lock left the lock behind and every later login shell
    # waited 60 s for it, which kept this calculation at "job state UNKNOWN" for minutes
    assert code.computer.get_authinfo(orm.User.collection.get_default()).get_auth_params()['use_login_shell'] is False
    node = submit_labelling(code, lattice, max_concurrent=orm.Int(1))

    # wait for the middle: one calculation finished, the next one submitted to Slurm and not done
    deadline = time.monotonic() + TIMEOUT
    while True:
        calculations = pw_calculations(node)
        finished = [calc for calc in calculations if calc.is_finished_ok]
        in_slurm = [calc for calc in calculations if not calc.is_terminated and calc.get_job_id()]
        if finished and in_slurm:
            break
        assert not node.is_terminated, 'the labelling finished before the daemon could be killed'
        assert time.monotonic() < deadline, 'no calculation reached Slurm in time'
        time.sleep(0.2)
    daemon = {production_daemon.get_daemon_pid(), *map(int, production_daemon.get_worker_info()['info'])}
    assert len(daemon) == 1 + DAEMON_WORKERS
    killed = kill_daemon(production_daemon)
    assert daemon <= set(killed)
    assert not any(is_alive(pid) for pid in daemon)
    time.sleep(2)
    assert not node.is_terminated

    production_daemon.start_daemon(number_workers=DAEMON_WORKERS)
    wait_for(node, timeout=150, daemon=production_daemon)
    assert node.exit_status == 0, node.exit_message
    assert node.outputs.training_set.count == len(lattice)

    calculations = pw_calculations(node)
    # one PwCalculation per structure: nothing was resubmitted or restarted
    assert len(calculations) == len(lattice)
    assert all(calc.is_finished_ok for calc in calculations)
    # every pw.x job started exactly once, in its own directory, with the job id AiiDA recorded
    runs = runs_in(runs_dir / 'kill.log')
    assert len(runs) == len(set(runs)) == len(lattice)
    assert sorted(runs) == sorted((calc.get_job_id(), calc.get_remote_workdir()) for calc in calculations)
    energies = [atoms.get_potential_energy() for atoms in node.outputs.training_set.iter_atoms()]
    assert len(set(np.round(energies, 6))) == len(lattice)
