"""Load on the production stack: N ``core.arithmetic.add`` CalcJobs submitted at once to the daemon.

Each process is a real CalcJob on the direct scheduler of this machine: AiiDA uploads a bash
script, submits it, polls it, retrieves and parses ``x + y``. The script submits all N, waits until
every one is terminated (or the deadline passes) and prints how many finished correctly, failed,
excepted or were killed, how many never terminated (unreachable), and processes per minute.
Goal: 500 submitted, all finished.

Needs the production profile and its daemon (``make setup-production``).

The jobs run on the computer ``load-direct`` (created here if missing: this machine, direct scheduler,
``core.local`` transport without a login shell, so that the user's shell start-up files do not run
for each of the thousands of commands; see ``configure_without_login_shell``).

Usage: ``python benchmarks/load_production.py [-p mlip-autopipe-production] [--count 500] [--timeout 900]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import time

LOAD_COMPUTER = 'load-direct'


def ensure_load_computer(label: str = LOAD_COMPUTER):
    """The computer the load runs on: this machine, direct scheduler, no login shell."""
    from aiida_mlip_autopipe.production import configure_without_login_shell
    from aiida_mlip_autopipe.setup import load_or_create_local_computer

    computer = load_or_create_local_computer(
        label, 'core.direct', 'This machine, direct scheduler, for benchmarks/load_production.py', prepend_text=''
    )
    configure_without_login_shell(computer)
    return computer


def ensure_add_code(computer_label: str):
    """The ``add@<computer>`` code: ``/bin/bash`` running the ``core.arithmetic.add`` script."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        return orm.load_code(f'add@{computer_label}')
    except NotExistent:
        return orm.InstalledCode(
            label='add',
            computer=orm.load_computer(computer_label),
            filepath_executable='/bin/bash',
            default_calc_job_plugin='core.arithmetic.add',
        ).store()


def count_terminated(pks: list[int]) -> int:
    """How many of the processes ``pks`` are finished, excepted or killed (one query)."""
    from aiida import orm

    query = orm.QueryBuilder().append(
        orm.ProcessNode,
        filters={'id': {'in': pks}, 'attributes.process_state': {'in': ['finished', 'excepted', 'killed']}},
    )
    return query.count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-p', '--profile', default='mlip-autopipe-production')
    parser.add_argument('--computer', default=LOAD_COMPUTER, help=f'default: {LOAD_COMPUTER}, created if missing')
    parser.add_argument('--count', type=int, default=500)
    parser.add_argument('--timeout', type=float, default=900, help='seconds to wait for all to terminate')
    arguments = parser.parse_args()

    from aiida import load_profile, orm
    from aiida.engine import submit
    from aiida.engine.daemon.client import get_daemon_client
    from aiida.plugins import CalculationFactory

    profile = load_profile(arguments.profile, allow_switch=True)
    client = get_daemon_client()
    if not client.is_daemon_running:
        raise SystemExit(f'the daemon of {profile.name} is not running: make setup-production first')
    workers = len(client.get_worker_info()['info'])
    if arguments.computer == LOAD_COMPUTER:
        ensure_load_computer()
    code = ensure_add_code(arguments.computer)
    add = CalculationFactory('core.arithmetic.add')

    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    print(f'{now}, {os.cpu_count()} CPUs, load average before the first submission {os.getloadavg()[0]:.1f}')
    start = time.monotonic()
    nodes = []
    for index in range(arguments.count):
        builder = add.get_builder()
        builder.code = code
        builder.x = orm.Int(index)
        builder.y = orm.Int(1000)
        builder.metadata.options.resources = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        nodes.append(submit(builder))
    submitted = time.monotonic() - start
    print(f'profile {profile.name} ({profile.storage_backend} + {profile.process_control_backend}), {workers} workers')
    print(f'submitted {len(nodes)} core.arithmetic.add CalcJobs in {submitted:.1f} s')

    deadline = start + arguments.timeout
    pks = [node.pk for node in nodes]
    terminated, last_print = 0, 0.0
    while terminated < len(nodes) and time.monotonic() < deadline:
        time.sleep(3)
        terminated = count_terminated(pks)
        if time.monotonic() - last_print > 30 or terminated == len(nodes):
            last_print = time.monotonic()
            print(f'  {last_print - start:6.0f} s: {terminated} terminated', flush=True)
    elapsed = time.monotonic() - start

    correct = sum(
        1 for index, node in enumerate(nodes) if node.is_finished_ok and node.outputs.sum.value == index + 1000
    )
    failed = sum(1 for node in nodes if node.is_finished and not node.is_finished_ok)
    excepted = sum(1 for node in nodes if node.is_excepted)
    killed = sum(1 for node in nodes if node.is_killed)
    unreachable = sum(1 for node in nodes if not node.is_terminated)
    print(f'finished correctly {correct} / {len(nodes)}; failed {failed}; excepted {excepted}; killed {killed}')
    print(f'unreachable (not terminated after {elapsed:.0f} s) {unreachable}')
    print(f'throughput {correct / elapsed * 60:.0f} processes per minute ({elapsed:.0f} s from first submission)')
    print(f'N = {len(nodes)}, load average (1, 5, 15 min) at the end {" ".join(f"{x:.1f}" for x in os.getloadavg())}')


if __name__ == '__main__':
    main()
