"""The daemon stays free while a validation computes: its heavy work is a job on the computer, not in the worker.

A daemon with ONE worker gets a validation whose MD in ASE takes tens of seconds, then, once that
MD job runs, a trivial work chain (aiida-core's ``core.arithmetic.add_multiply``). The trivial one
must finish while the MD job is still running. Were the MD a calcfunction (as before), the one worker
would be inside it and the trivial work chain would wait for it to end.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ..embedded_profile import EmbeddedProfile
from .test_properties import FIXTURE

pytestmark = [pytest.mark.campaign, pytest.mark.slow, pytest.mark.timeout(1200)]

RACE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from aiida import orm
    from aiida.engine import submit
    from aiida.plugins import WorkflowFactory
    from aiida_mlip_autopipe.data import AcePotential
    from aiida_mlip_autopipe.validation.workchain import get_validation_builder

    fixture, steps = Path(sys.argv[1]), int(sys.argv[2])
    potential = AcePotential.from_files(
        fixture / 'potential.yaml', fixture / 'potential.yace', fixture / 'potential.asi'
    ).store()
    builder = get_validation_builder(
        potential, orm.load_code('python@localhost'), labeller='emt', elements=['Cu'], properties=['eos', 'md'],
        temperature_max=300.0, md_steps=steps, tolerances={'bulk_modulus': 0.5},
    )
    validation = submit(builder)

    def row(pk):  # read from the database, not from this process's cache
        query = orm.QueryBuilder().append(
            orm.ProcessNode, filters={'id': pk},
            project=['attributes.process_state', 'attributes.exit_status', 'attributes.scheduler_state'],
        )
        return dict(zip(('state', 'exit_status', 'scheduler_state'), query.one()))

    def md_job():
        query = orm.QueryBuilder().append(orm.WorkflowNode, filters={'id': validation.pk}, tag='validation')
        query.append(orm.CalcJobNode, with_incoming='validation', edge_filters={'label': 'md_stability'},
                     project=['id'])
        found = query.all(flat=True)
        return found[0] if found else None

    start = time.time()
    while time.time() - start < 300:
        md = md_job()
        if md is not None and row(md)['scheduler_state'] == 'running':
            break
        time.sleep(0.5)
    else:
        raise SystemExit('the MD job never ran')
    submitted = time.time()
    other = submit(WorkflowFactory('core.arithmetic.add_multiply'), x=orm.Int(1), y=orm.Int(2), z=orm.Int(3))
    while row(other.pk)['state'] not in ('finished', 'excepted', 'killed') and time.time() - submitted < 300:
        time.sleep(0.2)
    other_done = time.time()
    md_when_other_done = row(md)
    while row(validation.pk)['state'] not in ('finished', 'excepted', 'killed') and time.time() - start < 600:
        time.sleep(1)
    md_node = orm.load_node(md)
    validation = orm.load_node(validation.pk)
    other = orm.load_node(other.pk)
    print(json.dumps({
        'other': {'exit_status': other.exit_status, 'result': other.outputs.result.value
                  if 'result' in other.outputs else None, 'seconds': other_done - submitted},
        'md_when_other_done': md_when_other_done,
        'md': {'exit_status': md_node.exit_status, 'seconds': (md_node.mtime - md_node.ctime).total_seconds(),
               'runs': len(md_node.outputs.result['runs']) if 'result' in md_node.outputs else None,
               'task': md_node.inputs.task.value},
        'md_finished_after_other': md_node.mtime.timestamp() > other_done,
        'validation': {'state': validation.process_state.value, 'exit_status': validation.exit_status,
                       'report': 'report' in validation.outputs},
    }))
    """
)


@pytest.fixture(scope='module')
def profile(tmp_path_factory):
    profile = EmbeddedProfile(tmp_path_factory.mktemp('daemon-free'), 'daemon-free').create()
    yield profile
    profile.stop()


def test_a_trivial_workflow_finishes_while_the_validation_job_runs_on_one_worker(profile):
    profile.start_daemon(workers=1)
    # 4 runs of 32 Cu atoms (the ASE default), 1500 steps each: about half a minute of pyace MD
    race = profile.script('race.py', RACE, Path(FIXTURE), 1500)
    print(race)
    # the trivial work chain finished, with its answer, while the validation's MD job was still running
    assert race['other']['exit_status'] == 0 and race['other']['result'] == (1 + 2) * 3, race
    assert race['md_when_other_done']['state'] == 'waiting', race
    assert race['md_when_other_done']['scheduler_state'] == 'running', race
    assert race['md_finished_after_other'], race
    assert race['other']['seconds'] < race['md']['seconds'], race
    # and the validation itself completed: its MD ran as the plugin's task, four runs
    assert race['md']['exit_status'] == 0 and race['md']['runs'] == 4, race
    assert race['md']['task'] == 'aiida_mlip_autopipe.validation.tasks:md_stability_runs'
    assert race['validation']['state'] == 'finished' and race['validation']['report'], race
