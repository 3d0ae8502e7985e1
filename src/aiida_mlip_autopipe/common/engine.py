"""Engine helpers of the work chains: ``submit_once`` and ``expose_top_level_inputs``.

:func:`submit_once`: a work chain submits each child once, even when a crash replays the step.

A work chain killed after submitting a child but before its next checkpoint replays that step
when it is continued. The child submitted the first time usually still runs (its task was
queued), so it is taken instead of a second one. It is taken only while it can still give a
result: a child that excepted, was killed, or was stored but never queued (the crash came between
storing it and queueing its task) is submitted again under a new link label, with a report line,
and the old one stays on the graph.

Link labels must be unique among a work chain's children: a label submitted by an earlier step,
or twice in one step, raises ``ValueError`` instead of silently taking another step's child. The
labels already submitted are kept in the work chain's context (:data:`SUBMITTED_KEY`), which AiiDA
saves with each checkpoint; a replayed step starts from the context saved before it, so only its
own children are found again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

#: Context key of the link labels a work chain submitted through :func:`submit_once` (saved at checkpoints).
SUBMITTED_KEY = 'submitted_link_labels'
#: Suffix of the link label of a child submitted again after the previous one could not give a result.
RESUBMIT_SUFFIX = '_resubmit'
#: How many times one link label's child is submitted again before the work chain fails.
MAX_RESUBMISSIONS = 2


def queued_process_pks(profile) -> set[int] | None:
    """Return the pks of processes with a task in the broker of ``profile``, or None if that cannot be known here.

    Known for the embedded ZeroMQ broker, which keeps each task as a JSON file (``pending`` until a
    worker takes it, then ``processing`` until it is done); the files are only read. RabbitMQ tells
    its queue only to a consumer that takes the tasks, which a work chain must not do: None.
    """
    if profile is None or profile.process_control_backend != 'core.zeromq':
        return None
    from aiida.brokers.zeromq.service import ZeromqBrokerService
    from aiida.manage.configuration import get_config

    paths = get_config().filepaths(profile)['broker_service']
    tasks = ZeromqBrokerService.FilepathLayout(paths['dir'], paths['log']).storage_path / 'tasks'
    return task_pks(tasks)


def task_pks(tasks: Path) -> set[int]:
    """Return the pks of the ``continue`` tasks in a ZeroMQ broker's task folder (``pending`` and ``processing``).

    Each task is a file ``<time>_<id>.json`` holding ``{"body": {"task": "continue", "args": {"pid": 5, ...}}}``.
    """
    pks = set()
    for folder in ('pending', 'processing'):
        for path in (Path(tasks) / folder).glob('*.json'):
            try:
                body = json.loads(path.read_text()).get('body') or {}
                pks.add(int(body['args']['pid']))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # a task taken or acknowledged meanwhile, or not a process task
    return pks


def child_state(node, queued: set[int] | None) -> tuple[bool, str]:
    """Return whether a found child can still give a result, and its state in words.

    ``queued`` is :func:`queued_process_pks` (None when the broker cannot tell). A finished child
    gave its result (whatever its exit status: the caller inspects it as usual); a waiting or
    running one will. A child still ``created`` runs only if its checkpoint was saved and its task
    queued; without a checkpoint it can never run.
    """
    from plumpy import ProcessState

    state = node.process_state
    if state == ProcessState.FINISHED:
        return True, f'finished [{node.exit_status}]'
    if state in (ProcessState.EXCEPTED, ProcessState.KILLED):
        return False, state.value
    if state == ProcessState.CREATED or state is None:
        if node.checkpoint is None:
            return False, 'stored but never queued (no checkpoint)'
        if queued is not None and node.pk not in queued:
            return False, 'stored but never queued (no task in the broker)'
        return True, 'created, queued' if queued is not None else 'created (the broker cannot be asked)'
    return True, state.value


def _attempt(label: str, link_label: str) -> int | None:
    """Return 0 for ``link_label`` itself, n for ``<link_label>_resubmit<n>``, None for another label."""
    if label == link_label:
        return 0
    match = re.fullmatch(re.escape(link_label + RESUBMIT_SUFFIX) + r'(\d+)', label)
    return int(match.group(1)) if match else None


def submit_once(workchain, builder, link_label: str):
    """Submit ``builder`` from ``workchain`` under the call link ``link_label``, unless a step replayed it.

    Returns the child found under ``link_label`` (or its latest resubmission) when it can still
    give a result (:func:`child_state`); otherwise submits again under ``<link_label>_resubmit<n>``
    and reports why. Raises ``ValueError`` for a label already submitted by this work chain (labels
    must be unique) and ``RuntimeError`` after :data:`MAX_RESUBMISSIONS` resubmissions.
    """
    from aiida.common.links import LinkType
    from aiida.manage import get_manager

    node = workchain.node
    submitted = list(workchain.ctx.get(SUBMITTED_KEY, []))
    if link_label in submitted:
        raise ValueError(
            f'{node.process_label}<{node.pk}> submitted a child under the link label `{link_label}` already: '
            'link labels must be unique among its children'
        )
    links = node.base.links.get_outgoing(
        link_type=(LinkType.CALL_CALC, LinkType.CALL_WORK),
        link_label_filter=f'{link_label}%',  # `_` is a LIKE wildcard: the exact match is checked below
    ).all()
    attempts: dict[int, list] = {}
    for link in links:
        attempt = _attempt(link.link_label, link_label)
        if attempt is not None:
            attempts.setdefault(attempt, []).append(link.node)
    for attempt, children in attempts.items():
        if len(children) > 1:
            label = link_label if attempt == 0 else f'{link_label}{RESUBMIT_SUFFIX}{attempt}'
            pks = ', '.join(str(child.pk) for child in children)
            raise ValueError(
                f'{node.process_label}<{node.pk}> has {len(children)} children under the link label `{label}` '
                f'({pks}): link labels must be unique among its children'
            )
    workchain.ctx[SUBMITTED_KEY] = [*submitted, link_label]
    label = link_label
    if attempts:
        latest = max(attempts)
        child = attempts[latest][0]
        found_label = link_label if latest == 0 else f'{link_label}{RESUBMIT_SUFFIX}{latest}'
        usable, state = child_state(child, queued_process_pks(get_manager().get_profile()))
        if usable:
            workchain.report(
                f'`{found_label}`: taking {child.process_label}<{child.pk}> ({state}), submitted before a restart'
            )
            return child
        if latest >= MAX_RESUBMISSIONS:
            raise RuntimeError(
                f'`{found_label}`: {child.process_label}<{child.pk}> is {state}, after {latest} resubmission(s) '
                f'of `{link_label}`; not submitting it again'
            )
        label = f'{link_label}{RESUBMIT_SUFFIX}{latest + 1}'
        workchain.report(
            f'`{found_label}`: {child.process_label}<{child.pk}> is {state}; submitting again as `{label}` '
            '(the old one stays on the graph)'
        )
    builder.metadata.call_link_label = label
    return workchain.submit(builder)


#: Properties of a port namespace that plumpy's ``absorb`` copies from the exposed process's inputs.
_NAMESPACE_PROPERTIES = ('default', 'help', 'populate_defaults', 'required', 'valid_type', 'validator')


def expose_top_level_inputs(spec, process_class, include: tuple[str, ...]) -> None:
    """Expose the inputs ``include`` of ``process_class`` under their own names at the top of ``spec``.

    ``spec.expose_inputs`` without a namespace also copies the exposed process's top-level namespace
    properties onto this one: its validator would replace this process's, and setting its
    ``valid_type`` makes the namespace dynamic, so that any unknown input is taken. Both are put
    back here. :meth:`~aiida.engine.Process.exposed_inputs` then gives the values to pass on.
    """
    inputs = spec.inputs
    kept = {name: getattr(inputs, name) for name in _NAMESPACE_PROPERTIES}
    dynamic = inputs.dynamic
    spec.expose_inputs(process_class, include=include)
    for name, value in kept.items():
        setattr(inputs, name, value)
    inputs.dynamic = dynamic  # after `valid_type`, whose setter turns it on
