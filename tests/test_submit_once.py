"""``submit_once``: a replayed step takes its child only while that child can still give a result.

A replay is what AiiDA does after a crash: the step runs again from the context saved before it.
Here a step calls ``submit_once`` again after dropping the labels it submitted from the context
(:data:`SUBMITTED_KEY`), which is exactly the context a replay starts from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from aiida import orm
from aiida.engine import ToContext, WorkChain, run_get_node

from aiida_mlip_autopipe.common.engine import SUBMITTED_KEY, child_state, submit_once, task_pks


class Double(WorkChain):
    """Output twice the input."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('x', valid_type=orm.Int)
        spec.output('y', valid_type=orm.Int)
        spec.outline(cls.double)

    def double(self):
        self.out('y', orm.Int(2 * self.inputs.x.value).store())


class Explode(WorkChain):
    """Except in its first step."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.outline(cls.explode)

    def explode(self):
        raise RuntimeError('boom')


def _double(x):
    builder = Double.get_builder()
    builder.x = orm.Int(x)
    return builder


def _replay(workchain):
    """Forget the labels submitted since the last checkpoint, as a step replayed after a crash does."""
    workchain.ctx.pop(SUBMITTED_KEY, None)


def _never_queued(workchain, label):
    """Store a child under ``label`` as a crash between storing it and saving its first checkpoint leaves it."""
    node = workchain.runner.instantiate_process(Double, x=orm.Int(5), metadata={'call_link_label': label}).node
    node.delete_checkpoint()
    return node


class Replaying(WorkChain):
    """Submit under one label, then replay the step: the finished child is taken; `_` is no wildcard."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.outline(cls.submit_children, cls.replay)

    def submit_children(self):
        first = submit_once(self, _double(1), 'child_a')
        similar = submit_once(self, _double(2), 'childxa')  # `_` must not match as a wildcard
        return ToContext(first=first, similar=similar)

    def replay(self):
        _replay(self)
        assert submit_once(self, _double(1), 'child_a').pk == self.ctx.first.pk
        assert self.ctx.first.outputs.y.value == 2 and self.ctx.similar.outputs.y.value == 4


class NotAlive(WorkChain):
    """A replay finds a child that excepted and one that was never queued: each is submitted again."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.outline(cls.submit_children, cls.replay, cls.check)

    def submit_children(self):
        return ToContext(exploded=submit_once(self, Explode.get_builder(), 'exploding'))

    def replay(self):
        never_queued = _never_queued(self, 'stored')
        _replay(self)
        retried, queued = submit_once(self, _double(3), 'exploding'), submit_once(self, _double(4), 'stored')
        # taken instead, the never-queued child would be waited on forever: fail here instead
        assert retried.pk != self.ctx.exploded.pk and queued.pk != never_queued.pk, 'a dead child was taken'
        return ToContext(retried=retried, queued=queued)

    def check(self):
        assert self.ctx.retried.outputs.y.value == 6 and self.ctx.queued.outputs.y.value == 8


class SameLabelTwice(WorkChain):
    """Submit two children under one label in one step: a bug, refused."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.outline(cls.submit_children)

    def submit_children(self):
        submit_once(self, _double(1), 'child')
        submit_once(self, _double(2), 'child')


class TwoOnTheGraph(WorkChain):
    """Two children already under one label (not made through submit_once): which one to take is unknown."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.outline(cls.submit_children)

    def submit_children(self):
        _never_queued(self, 'twice')
        _never_queued(self, 'twice')
        submit_once(self, _double(1), 'twice')


class GivesUp(WorkChain):
    """The child and its two resubmissions never ran: the third resubmission is refused."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.outline(cls.submit_children)

    def submit_children(self):
        for label in ('job', 'job_resubmit1', 'job_resubmit2'):
            _never_queued(self, label)
        submit_once(self, _double(1), 'job')


def _report(node) -> str:
    return '\n'.join(log.message for log in orm.Log.collection.get_logs_for(node))


def _children(node) -> dict:
    return {link.link_label: link.node for link in node.base.links.get_outgoing().all()}


def test_a_replayed_step_takes_the_child_that_finished(aiida_profile):
    _, node = run_get_node(Replaying)
    assert node.is_finished_ok, node.exit_message
    assert sorted(_children(node)) == ['child_a', 'childxa']
    assert '`child_a`: taking Double<' in _report(node) and '(finished [0])' in _report(node)


def test_a_child_that_excepted_or_was_never_queued_is_submitted_again(aiida_profile):
    _, node = run_get_node(NotAlive)
    assert node.is_finished_ok, node.exit_message
    children = _children(node)
    assert sorted(children) == ['exploding', 'exploding_resubmit1', 'stored', 'stored_resubmit1']
    # the old children stay on the graph as they were
    assert children['exploding'].is_excepted and children['stored'].process_state.value == 'created'
    assert children['stored'].checkpoint is None
    report = _report(node)
    assert f'`exploding`: Explode<{children["exploding"].pk}> is excepted; submitting again as' in report
    assert f'`stored`: Double<{children["stored"].pk}> is stored but never queued (no checkpoint)' in report
    assert 'submitting again as `stored_resubmit1` (the old one stays on the graph)' in report


@pytest.mark.parametrize(
    ('process', 'message'),
    [
        (SameLabelTwice, 'submitted a child under the link label `child` already: link labels must be unique'),
        (TwoOnTheGraph, 'has 2 children under the link label `twice`'),
        (GivesUp, 'is stored but never queued (no checkpoint), after 2 resubmission(s) of `job`'),
    ],
)
def test_duplicate_labels_and_endless_resubmission_fail_clearly(aiida_profile, process, message):
    with pytest.raises((ValueError, RuntimeError)) as error:  # run() raises what the step raised
        run_get_node(process)
    assert message in str(error.value)
    (node,) = (
        orm.QueryBuilder()
        .append(orm.WorkflowNode, filters={'attributes.process_label': process.__name__})
        .all(flat=True)
    )
    assert node.is_excepted and message in node.exception


@pytest.mark.timeout(600)
def test_task_pks_reads_the_tasks_of_a_real_zeromq_broker(tmp_path):
    """A process submitted to the embedded broker with no worker has a pending task; without it, it is never run."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, AIIDA_PATH=str(tmp_path), PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    verdi = [str(bin_dir / 'verdi'), '-p', 'zq']

    def run(*command):
        return subprocess.run(command, env=env, check=True, capture_output=True, text=True, timeout=120)

    run(str(bin_dir / 'verdi'), 'presto', '--profile-name', 'zq', '--use-zeromq')
    run(*verdi, 'config', 'set', 'daemon.timeout', '30')
    script = tmp_path / 'submit.py'
    script.write_text(
        textwrap.dedent(
            """
            import json
            import time

            from aiida import engine, orm
            from aiida.manage import get_manager
            from aiida.workflows.arithmetic.multiply_add import MultiplyAddWorkChain
            from aiida_mlip_autopipe.common.engine import child_state, queued_process_pks

            code = orm.InstalledCode(
                label='add', computer=orm.load_computer('localhost'), filepath_executable='/bin/bash',
                default_calc_job_plugin='core.arithmetic.add',
            ).store()
            node = engine.submit(MultiplyAddWorkChain, x=orm.Int(1), y=orm.Int(2), z=orm.Int(3), code=code)
            for _ in range(100):  # the task is sent without waiting for the broker to store it
                queued = queued_process_pks(get_manager().get_profile())
                if queued:
                    break
                time.sleep(0.1)
            print(json.dumps({'pk': node.pk, 'queued': sorted(queued), 'state': child_state(node, queued)}))
            """
        )
    )
    try:
        run(*verdi, 'daemon', 'start', '1')
        run(*verdi, 'daemon', 'decr', '1')  # the broker runs, no worker takes the task
        result = run(*verdi, 'run', str(script))
    finally:
        subprocess.run([*verdi, 'daemon', 'stop'], env=env, capture_output=True, timeout=120)
    import json

    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found['queued'] == [found['pk']]
    assert found['state'] == [True, 'created, queued']
    (tasks,) = tmp_path.glob('.aiida/broker/*/storage/tasks')
    assert task_pks(tasks) == {found['pk']}
    for path in (tasks / 'pending').glob('*.json'):  # the task lost, as when the crash came before queueing it
        path.unlink()
    assert task_pks(tasks) == set()


def test_child_state_in_words(aiida_profile):
    node = orm.WorkflowNode()
    node.set_process_state('created')
    assert child_state(node, None) == (False, 'stored but never queued (no checkpoint)')
    node.set_checkpoint('checkpoint')
    assert child_state(node, None) == (True, 'created (the broker cannot be asked)')
    node.store()
    assert child_state(node, {node.pk}) == (True, 'created, queued')
    assert child_state(node, set()) == (False, 'stored but never queued (no task in the broker)')
    for state, usable in (('waiting', True), ('running', True), ('killed', False), ('excepted', False)):
        other = orm.WorkflowNode()
        other.set_process_state(state)
        assert child_state(other, set()) == (usable, state)
