"""``submit_once``: a work chain step replayed after a crash takes the child it submitted the first time."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, run_get_node

from aiida_mlip_autopipe.recovery import submit_once


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


class ReplayingParent(WorkChain):
    """Submit under the same link label twice, as a step replayed from its checkpoint would."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.outline(cls.submit_children, cls.check_children)

    def _builder(self, x):
        builder = Double.get_builder()
        builder.x = orm.Int(x)
        return builder

    def submit_children(self):
        first = submit_once(self, self._builder(1), 'child_a')
        replayed = submit_once(self, self._builder(1), 'child_a')
        similar = submit_once(self, self._builder(2), 'childxa')  # `_` must not match as a wildcard
        self.ctx.replayed_is_first = replayed.pk == first.pk
        return ToContext(first=first, similar=similar)

    def check_children(self):
        assert self.ctx.replayed_is_first
        assert self.ctx.first.outputs.y.value == 2 and self.ctx.similar.outputs.y.value == 4


def test_submit_once_takes_the_child_already_submitted(aiida_profile):
    _, node = run_get_node(ReplayingParent)
    assert node.is_finished_ok, node.exit_message
    labels = sorted(link.link_label for link in node.base.links.get_outgoing().all())
    assert labels == ['child_a', 'childxa']
    report = '\n'.join(log.message for log in orm.Log.collection.get_logs_for(node))
    assert '`child_a`: taking Double<' in report
