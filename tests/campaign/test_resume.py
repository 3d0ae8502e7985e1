"""Resume after a crash: a campaign on the embedded profile survives SIGKILL of its daemon.

The test makes its own embedded profile (``verdi presto --use-zeromq``, as ``make setup`` does) in
a temporary ``AIIDA_PATH``, registers the codes with ``mlip-autopipe setup``, submits a small Al
campaign with pw.x to the daemon, and kills the daemon and all its processes with SIGKILL while the
first DFT batch runs. It then follows the documented recovery (``mlip-autopipe recover``) and
waits for the campaign to finish. No pw.x calculation may run twice (a structure has a second
successful run only when aiida-quantumespresso's insufficient-bands check restarted it with more
bands), and the calculations that had finished before the kill are the ones whose labels are used.
"""

from __future__ import annotations

import itertools
import json
import textwrap

import pytest

from ..embedded_profile import EmbeddedProfile, wait_for

pytestmark = [pytest.mark.campaign, pytest.mark.slow, pytest.mark.timeout(3600)]

PROFILE = 'resume-test'

CAMPAIGN = """\
name: resume-test
elements: [Al]
temperature: {min: 300, max: 600, points: 1}
protocol: fast
labeller: qe
seed: 5
targets: {force_rmse_mev_a: 100000.0, energy_rmse_mev_atom: 100000.0, high_gamma_fraction: 1.0, consecutive: 1}
budgets: {iterations: 1, dft_calculations: 40, wall_time_hours: 1.0}
exploration: {steps: 200, ramp_iterations: 1, gamma_lower: 500.0, gamma_upper: 1000.0}  # rarely halts
dft: {overrides: {kpoints_distance: 0.5}, check_labels: false}  # the label check has its own test
validation: {properties: [eos], tolerances: {lattice_a: 1.0, bulk_modulus: 10.0}}  # the resume is under test
"""

QUERY = textwrap.dedent(
    """
    import json, sys
    from aiida import orm
    from aiida.common.links import LinkType
    campaign = orm.load_node(int(sys.argv[1]))
    pw = {'process_type': 'aiida.calculations:quantumespresso.pw'}
    calcs = orm.QueryBuilder().append(orm.CalcJobNode, filters=pw).all(flat=True)
    finished = [c for c in calcs if c.is_finished_ok]
    used = []
    for name in ('training_set', 'held_out_set'):
        if name in campaign.outputs:
            used += [atoms.info.get('source_uuid') for atoms in campaign.outputs[name].iter_atoms()]
    def describe(calc):
        caller = calc.caller
        return {
            'pk': calc.pk, 'ctime': calc.ctime.isoformat(), 'mtime': calc.mtime.isoformat(),
            'caller': caller.pk if caller else None,
            'caller_calls': len(caller.called) if caller else None,
            'labelling': caller.caller.pk if caller and caller.caller else None,
            'link_label': caller.base.links.get_incoming(link_type=LinkType.CALL_WORK).one().link_label
            if caller else None,
            'nbnd': calc.inputs.parameters.get_dict().get('SYSTEM', {}).get('nbnd'),
        }
    print(json.dumps({
        'state': campaign.process_state.value if campaign.process_state else None,
        'exit_status': campaign.exit_status,
        'exit_message': campaign.exit_message,
        'finished_pw': [c.uuid for c in finished],
        'finished_pw_structures': [c.inputs.structure.uuid for c in finished],
        'finished_pw_details': {c.uuid: describe(c) for c in finished},
        'all_pw': {c.uuid: [c.inputs.structure.uuid, c.process_state.value if c.process_state else None,
                            c.exit_status] for c in calcs},
        'used_sources': used,
        'dft_cpu_seconds': [row.get('dft_cpu_seconds') for row in campaign.outputs.summary['iterations']]
        if 'summary' in campaign.outputs else [],
    }))
    """
)


@pytest.fixture(scope='module')
def embedded(tmp_path_factory):
    """A profile made as `make setup` makes it, in a temporary AIIDA_PATH; its daemon is stopped at the end."""
    profile = EmbeddedProfile(tmp_path_factory.mktemp('embedded'), PROFILE).create()
    (profile.path / 'campaign.yaml').write_text(CAMPAIGN)
    (profile.path / 'query.py').write_text(QUERY)
    yield profile
    profile.stop()


def query(profile: EmbeddedProfile, pk: int) -> dict:
    return json.loads(profile.verdi('run', profile.path / 'query.py', pk).stdout.strip().splitlines()[-1])


def test_campaign_resumes_after_sigkill_without_repeating_dft(embedded):
    profile = embedded
    profile.start_daemon()
    submitted = profile.verdi('run', 'examples/submit_campaign.py', profile.path / 'campaign.yaml')
    pk = int(submitted.stdout.split('ActiveLearningWorkChain<')[1].split('>')[0])

    before = wait_for(lambda: query(profile, pk), lambda s: len(s['finished_pw']) >= 2, 600)
    assert before['state'] in ('waiting', 'running'), before
    assert profile.kill() >= 2  # circus and at least one worker
    killed = query(profile, pk)
    assert killed['state'] in ('waiting', 'running', 'created')  # nobody finished it

    # the recovery documented in docs/campaign.rst
    recovered = profile.recover()
    assert 'removed stale broker file' in recovered  # what made a plain restart hang
    final = wait_for(lambda: query(profile, pk), lambda s: s['state'] in ('finished', 'excepted', 'killed'), 1500)
    # it completes: converged, or (a one-iteration potential of a few cells may still halt an MD run) on its
    # iteration budget with the best potential output; either way every stage ran after the kill
    assert final['state'] == 'finished' and final['exit_status'] in (0, 401), final
    assert final['exit_status'] == 0 or 'iteration budget spent' in final['exit_message'], final

    states = {'before': before, 'killed': killed, 'final': final}
    (profile.path / 'states.json').write_text(json.dumps(states, indent=1))
    runs_per_structure = {}
    for uuid, structure in zip(final['finished_pw'], final['finished_pw_structures']):
        runs_per_structure.setdefault(structure, []).append(final['finished_pw_details'][uuid])
    repeated = {structure: runs for structure, runs in runs_per_structure.items() if len(runs) > 1}
    print(f'structures with several successful pw.x runs: {repeated} (states in {profile.path})')
    # nothing ran twice: a structure has a second successful run only when PwBaseWorkChain's
    # insufficient-bands check restarted it with more bands (a different calculation)
    for structure, runs in repeated.items():
        assert len({run['caller'] for run in runs}) == 1, (structure, runs)
        bands = [run['nbnd'] or 0 for run in sorted(runs, key=lambda run: run['ctime'])]
        assert all(later > earlier for earlier, later in itertools.pairwise(bands)), (structure, runs)
    # the status table's DFT CPU time: every labelling batch ran pw.x
    assert final['dft_cpu_seconds'] and all(seconds > 0 for seconds in final['dft_cpu_seconds']), final
    # the runs that had finished before the kill are kept, and their labels are in the training or held-out set
    assert set(before['finished_pw']) <= set(final['finished_pw'])
    assert set(before['finished_pw']) <= set(final['used_sources'])
