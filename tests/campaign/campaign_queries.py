"""What the daemon campaign tests read from their profile: scripts run with ``verdi run`` that print one JSON line.

Shared by ``test_faults.py`` and ``test_kill_every_stage.py``.
"""

from __future__ import annotations

import textwrap

#: Registers fault-injecting wrappers as codes: ``python register.py LABEL PLUGIN PATH ...`` (triples).
REGISTER = textwrap.dedent(
    """
    import json, sys
    from aiida import orm
    from aiida.common.exceptions import NotExistent
    computer = orm.load_computer('localhost')
    arguments = sys.argv[1:]
    made = {}
    for label, plugin, path in zip(arguments[0::3], arguments[1::3], arguments[2::3]):
        try:
            code = orm.load_code(f'{label}@localhost')
        except NotExistent:
            code = orm.InstalledCode(
                label=label, computer=computer, filepath_executable=path, default_calc_job_plugin=plugin,
                description='fault-injecting wrapper around the real code (tests only)',
            ).store()
        made[label] = code.full_label
    print(json.dumps(made))
    """
)

#: The state of a campaign: ``python state.py PK`` (cheap, for polling).
STATE = textwrap.dedent(
    """
    import json, sys
    from aiida import orm
    pk = int(sys.argv[1])
    # the processes the campaign called, at any depth (CALL links; QueryBuilder's with_ancestors follows
    # provenance links, which miss them)
    descendants = orm.load_node(pk).called_descendants
    def rows(kind, process_type):
        return [
            {'pk': node.pk, 'state': node.base.attributes.get('process_state', None),
             'exit_status': node.exit_status, 'scheduler_state': node.base.attributes.get('scheduler_state', None)}
            for node in descendants if isinstance(node, kind) and node.process_type == process_type
        ]
    campaign = orm.QueryBuilder().append(
        orm.WorkflowNode, filters={'id': pk}, project=['attributes.process_state', 'attributes.exit_status']
    ).one()
    print(json.dumps({
        'state': campaign[0], 'exit_status': campaign[1],
        'pw': rows(orm.CalcJobNode, 'aiida.calculations:quantumespresso.pw'),
        'pacemaker': rows(orm.CalcJobNode, 'aiida.calculations:mlip_autopipe.pacemaker'),
        'lmp': rows(orm.CalcJobNode, 'aiida.calculations:lammps.raw'),
        'exploration': rows(orm.WorkflowNode, 'aiida.workflows:mlip_autopipe.exploration'),
    }))
    """
)

#: Everything the tests check once a campaign ended: ``python record.py PK``.
RECORD = textwrap.dedent(
    """
    import hashlib, json, os, sys
    from aiida import orm
    from aiida.common.links import LinkType

    campaign = orm.load_node(int(sys.argv[1]))
    descendants = campaign.called_descendants

    def reports(node):
        return [log.message for log in orm.Log.collection.get_logs_for(node)]

    def workdir(calc):
        path = calc.get_remote_workdir()
        return os.path.realpath(path) if path else None

    def calcs(process_type):
        found = [node for node in descendants if node.process_type == process_type]
        return sorted(found, key=lambda node: node.ctime)

    def inputs_hash(calc):
        # what the calculation was given: each input link with its node's content hash; a restart's
        # `parent_folder` (a RemoteData, its path differs between campaigns) counts by its link only
        links = calc.base.links.get_incoming(link_type=LinkType.INPUT_CALC).all()
        pairs = sorted(
            (link.link_label, None if link.link_label == 'parent_folder' else link.node.base.caching.get_hash())
            for link in links
        )
        return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()

    def calc_row(calc):
        caller = calc.caller
        return {
            'pk': calc.pk, 'uuid': calc.uuid, 'hash': inputs_hash(calc),
            'cached': calc.base.caching.is_created_from_cache,
            'state': calc.process_state.value if calc.process_state else None,
            'exit_status': calc.exit_status, 'exit_message': calc.exit_message, 'workdir': workdir(calc),
            'caller': caller.pk if caller else None, 'caller_label': caller.process_label if caller else None,
            'caller_exit_status': caller.exit_status if caller else None,
            'caller_reports': reports(caller) if caller else [],
            'structure': calc.inputs.structure.uuid if 'structure' in calc.inputs else None,
        }

    def frames(training_set):
        if training_set is None:
            return None
        rows = []
        for atoms in training_set.iter_atoms():
            rows.append({
                'config_type': atoms.info.get('config_type'), 'source': atoms.info.get('source_uuid'),
                'numbers': atoms.numbers.tolist(), 'positions': atoms.positions.tolist(),
                'cell': atoms.cell.array.tolist(), 'energy': atoms.get_potential_energy(),
                'forces': atoms.get_forces().tolist(),
            })
        return rows

    labellings = []
    for node in sorted(descendants, key=lambda node: node.pk):
        if node.process_label == 'DftLabellingWorkChain':
            link = node.base.links.get_incoming(link_type=LinkType.CALL_WORK).one()
            labellings.append({
                'pk': node.pk, 'caller': link.node.process_label, 'link_label': link.link_label,
                'exit_status': node.exit_status,
                'keys': sorted(node.inputs.structures),
                'failures': node.outputs.failures.get_dict() if 'failures' in node.outputs else None,
                'labelled': sorted({a.info['config_type'] for a in node.outputs.training_set.iter_atoms()})
                if 'training_set' in node.outputs else [],
            })
    explorations = []
    for node in sorted(descendants, key=lambda node: node.pk):
        if node.process_label == 'ExplorationWorkChain':
            report = node.outputs.report.get_dict() if 'report' in node.outputs else {}
            explorations.append({
                'pk': node.pk, 'exit_status': node.exit_status, 'runs_failed': report.get('runs_failed'),
                'runs_total': report.get('runs_total'),
                'failures': {label: run.get('failure') for label, run in report.get('runs', {}).items()},
                'reports': reports(node),
            })
    summary = campaign.outputs.summary.get_dict() if 'summary' in campaign.outputs else {}
    print(json.dumps({
        'state': campaign.process_state.value if campaign.process_state else None,
        'exit_status': campaign.exit_status, 'exit_message': campaign.exit_message,
        'pw': [calc_row(calc) for calc in calcs('aiida.calculations:quantumespresso.pw')],
        'pacemaker': [calc_row(calc) for calc in calcs('aiida.calculations:mlip_autopipe.pacemaker')],
        'lmp': [calc_row(calc) for calc in calcs('aiida.calculations:lammps.raw')],
        'tasks': [calc_row(calc) for calc in calcs('aiida.calculations:mlip_autopipe.python_task')],
        'labellings': labellings,
        'explorations': explorations,
        'training_set': frames(campaign.outputs.training_set if 'training_set' in campaign.outputs else None),
        'held_out_set': frames(campaign.outputs.held_out_set if 'held_out_set' in campaign.outputs else None),
        'potential': 'potential' in campaign.outputs,
        'validation': 'validation' in campaign.outputs,
        'iterations': summary.get('iterations', []),
        'stop_reason': summary.get('stop_reason'),
    }))
    """
)
