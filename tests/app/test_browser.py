"""End to end in a real browser: Voila serves the app, Debian's chromium drives it through Playwright.

The test makes its own embedded profile (``verdi presto --use-zeromq``, as ``make setup`` does) in a
temporary ``AIIDA_PATH`` so that submission goes to a real daemon, registers the codes with
``mlip-autopipe setup``, starts the daemon and Voila on 127.0.0.1, fills the campaign step (a wrong
element first, to see the message next to the field), checks the resources, submits a small EMT
campaign and finds it in the monitor. Voila, the browser and the daemon are stopped at the end, also
on failure. Screenshots of the four steps are written to the test's temporary folder (and to
``$MLIP_AUTOPIPE_APP_SCREENSHOTS`` when set, which is how the docs' pictures are made).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from aiida_mlip_autopipe.setup import cache_dir

from ..daemon_processes import kill_daemon

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
PROFILE = 'app-browser-test'

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-dev-shm-usage',
]


def run(command, env):
    result = subprocess.run([str(part) for part in command], env=env, capture_output=True, text=True)
    if result.returncode:
        command_line = ' '.join(map(str, command))
        raise RuntimeError(f'{command_line} failed ({result.returncode}):\n{result.stdout}{result.stderr}')
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def stop_process_tree(process: subprocess.Popen) -> None:
    """Stop a process we started and its children (the kernel Voila started)."""
    if process.poll() is not None:
        return
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture(scope='module')
def app_server(tmp_path_factory):
    """A profile with codes and a running daemon, and Voila serving the app; yields (url, env, folder)."""
    folder = tmp_path_factory.mktemp('app')
    home = folder / 'home'
    env = dict(
        os.environ,
        AIIDA_PATH=str(folder / 'aiida'),
        MLIP_AUTOPIPE_CACHE=str(cache_dir()),  # before HOME moves: the codes' builds stay where setup put them
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(folder / 'jupyter' / 'config'),
        JUPYTER_DATA_DIR=str(folder / 'jupyter' / 'data'),
        JUPYTER_RUNTIME_DIR=str(folder / 'jupyter' / 'runtime'),
        IPYTHONDIR=str(folder / 'ipython'),
        MPLCONFIGDIR=str(folder / 'matplotlib'),
        MLIP_AUTOPIPE_PROFILE=PROFILE,
        MLIP_AUTOPIPE_APP_INTERVAL='2',
        PYTHONUNBUFFERED='1',
        PATH=f'{BIN}{os.pathsep}{os.environ.get("PATH", "")}',  # the daemon looks for `verdi` on PATH
    )
    for key in ('AIIDA_PATH', 'JUPYTER_CONFIG_DIR', 'JUPYTER_DATA_DIR', 'JUPYTER_RUNTIME_DIR', 'IPYTHONDIR'):
        Path(env[key]).mkdir(parents=True)
    home.mkdir()
    verdi = [BIN / 'verdi', '-p', PROFILE]
    run([BIN / 'verdi', 'presto', '--profile-name', PROFILE, '--use-zeromq'], env)
    run([*verdi, 'config', 'set', 'daemon.timeout', '30'], env)
    run([BIN / 'mlip-autopipe', '-p', PROFILE, 'setup'], env)
    (folder / 'app').mkdir()
    shutil.copy(ROOT / 'mlip_autopipe.ipynb', folder / 'app' / 'mlip_autopipe.ipynb')

    port = free_port()
    log = (folder / 'voila.log').open('w')
    voila = None
    try:
        run([*verdi, 'daemon', 'start', '1'], env)
        voila = subprocess.Popen(
            [
                str(BIN / 'voila'),
                str(folder / 'app' / 'mlip_autopipe.ipynb'),
                '--no-browser',
                f'--port={port}',
                '--Voila.ip=127.0.0.1',
                '--show_tracebacks=True',
            ],
            env=env,
            cwd=folder / 'app',
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f'http://127.0.0.1:{port}/'
        deadline = time.time() + 60
        while True:  # Voila has no status endpoint: any HTTP answer (here a 404, no kernel started) will do
            try:
                urllib.request.urlopen(url + 'mlip-autopipe-probe', timeout=2).close()
                break
            except urllib.error.HTTPError:
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if voila.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f'Voila did not answer: {(folder / "voila.log").read_text()}') from None
                time.sleep(0.5)
        yield url, env, folder
    finally:
        if voila is not None:
            stop_process_tree(voila)
        log.close()
        subprocess.run([*map(str, verdi), 'daemon', 'stop'], env=env, capture_output=True, timeout=60)
        kill_daemon(folder / 'aiida')  # whatever `daemon stop` left


@pytest.fixture
def page(app_server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / 'chromium-profile'),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={'width': 1280, 'height': 1000},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def shoot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f'{name}.png'
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get('MLIP_AUTOPIPE_APP_SCREENSHOTS')
    if target:
        shutil.copy(path, Path(target) / path.name)
    return path


def fill(page, css: str, value: str) -> None:
    """Type into a widget's input and leave it, so that number widgets send their value too."""
    field = page.locator(f'{css} input, {css} textarea').first
    field.fill(value)
    field.press('Tab')


def test_campaign_from_the_browser(app_server, page, tmp_path):
    from playwright.sync_api import expect

    url, env, _ = app_server
    page.set_default_timeout(30_000)
    page.goto(url)
    expect(page.locator('.mlip-wizard')).to_be_visible(timeout=120_000)

    # 1. campaign: a wrong element is named next to its field, then corrected
    fill(page, '.mlip-campaign-name', 'cuau-browser')
    page.locator('.mlip-campaign-protocol button', has_text='fast').click()
    page.locator('.mlip-campaign-labeller button', has_text='EMT').click()
    fill(page, '.mlip-campaign-composition-points', '3')
    fill(page, '.mlip-campaign-temperature-max', '600')
    fill(page, '.mlip-campaign-temperature-points', '1')
    fill(page, '.mlip-campaign-force-target', '0')
    expect(page.locator('.mlip-field-force_target .mlip-error')).to_contain_text('greater than 0')
    fill(page, '.mlip-campaign-elements', 'Cu, Xx')
    expect(page.locator('.mlip-field-elements .mlip-error')).to_contain_text('unknown element(s) Xx')
    expect(page.locator('.mlip-campaign-status')).to_contain_text('Fix the fields')
    shoot(page, tmp_path, 'app_step1_errors')
    fill(page, '.mlip-campaign-elements', 'Cu, Au')
    expect(page.locator('.mlip-field-elements .mlip-error')).to_have_text('')
    fill(page, '.mlip-campaign-force-target', '1000')
    fill(page, '.mlip-campaign-iterations', '1')
    fill(page, '.mlip-campaign-dft-calculations', '40')
    # enough distinct environments for pace_activeset and a potential whose equation of state the
    # validation can fit (test_monitor_of_a_finished_campaign follows this campaign to its end)
    generation = 'generation: {counts: {rattle: 8, random_strain: 5}}'
    fill(page, '.mlip-campaign-extra', f'exploration: {{steps: 200}}\n{generation}')
    expect(page.locator('.mlip-campaign-status')).to_contain_text('The campaign is valid')
    expect(page.locator('.mlip-campaign-picture')).to_be_visible()  # the composition points, drawn
    shoot(page, tmp_path, 'app_step1_campaign')
    # three elements take the density of the simplex sampling instead of a binary's range, and a triangle
    binary = page.locator('.mlip-campaign-picture').get_attribute('src')
    fill(page, '.mlip-campaign-elements', 'Cu, Ag, Au')
    expect(page.locator('.mlip-campaign-picture')).not_to_have_attribute('src', binary)
    expect(page.locator('.mlip-campaign-grid-density')).to_be_visible()
    expect(page.locator('.mlip-campaign-composition-min')).to_be_hidden()
    expect(page.locator('.mlip-campaign-status')).to_contain_text('The campaign is valid')
    shoot(page, tmp_path, 'app_step1_ternary')
    fill(page, '.mlip-campaign-elements', 'Cu, Au')
    expect(page.locator('.mlip-campaign-grid-density')).to_be_hidden()
    expect(page.locator('.mlip-campaign-status')).to_contain_text('The campaign is valid')

    # 2. resources: the codes `mlip-autopipe setup` registered in the profile
    page.locator('.lm-TabBar-tab', has_text='2. Resources').click()
    expect(page.locator('.mlip-computer select')).to_have_value('localhost')
    expect(page.locator('.mlip-code-pacemaker select')).to_have_value('pacemaker@localhost')
    expect(page.locator('.mlip-code-lmp select')).to_have_value('lmp@localhost')
    shoot(page, tmp_path, 'app_step2_resources')

    # 3. submit: the campaign file shown is the one submitted
    page.locator('.lm-TabBar-tab', has_text='3. Submit').click()
    preview = page.locator('.mlip-submit-yaml')
    shown = ('name: cuau-browser', 'labeller: emt', 'protocol: fast', 'steps: 200', 'pacemaker: pacemaker@localhost')
    for line in shown:
        expect(preview).to_contain_text(line)
    expect(page.locator('.mlip-submit-error')).to_have_text('')
    shoot(page, tmp_path, 'app_step3_submit')
    page.locator('.mlip-submit-button button, button.mlip-submit-button').first.click()
    expect(page.locator('.mlip-submit-message')).to_contain_text('submitted ActiveLearningWorkChain<', timeout=60_000)
    message = page.locator('.mlip-submit-message').inner_text()
    pk = int(message.split('ActiveLearningWorkChain<')[1].split('>')[0])

    # 4. monitor: the campaign is listed and selected, its state read from the database by itself
    expect(page.locator('.mlip-monitor-step')).to_be_visible()
    expect(page.locator('.mlip-monitor-list select option', has_text='cuau-browser')).to_have_count(1)
    expect(page.locator('.mlip-monitor-state')).to_contain_text(f'Campaign {pk}')
    state = page.locator('.mlip-monitor-state-text')
    expect(state).to_have_text(re.compile(r'^(created|waiting|running|finished)'))
    # the monitor refreshes by itself (every 2 s here), and so shows the first iteration row once the
    # daemon has generated the structures and started labelling them
    updated = page.locator('.mlip-monitor-updated')
    expect(updated).not_to_have_text(updated.inner_text(), timeout=15_000)
    expect(page.locator('.mlip-monitor-table')).to_contain_text('running', timeout=90_000)
    # the latest report lines are the campaign's own (the first ones scroll away as it goes on)
    expect(page.locator('.mlip-monitor-report')).to_contain_text(f'[{pk}|ActiveLearningWorkChain|')
    shoot(page, tmp_path, 'app_step4_monitor')
    assert (tmp_path / 'app_step4_monitor.png').stat().st_size > 10_000

    # the campaign in the database is the one the page showed
    script = tmp_path / 'query.py'
    script.write_text(f'from aiida import orm\nn = orm.load_node({pk})\nprint(n.label, n.inputs.campaign["labeller"])')
    result = run([BIN / 'verdi', '-p', PROFILE, 'run', script], env)
    assert result.stdout.split()[-2:] == ['cuau-browser', 'emt']


#: The campaign the first test fills in the page, as a file: submitted by the command line when that
#: test did not run, so that the monitor test always has a real campaign to follow to its end.
CAMPAIGN_NAME = 'cuau-browser'
CAMPAIGN_FILE = """\
name: cuau-browser
elements: [Cu, Au]
composition: {min: 0.0, max: 1.0, points: 3}
temperature: {min: 300, max: 600, points: 1}
protocol: fast
labeller: emt
targets: {force_rmse_mev_a: 1000}
budgets: {iterations: 1, dft_calculations: 40}
exploration: {steps: 200}
generation: {counts: {rattle: 8, random_strain: 5}}
"""
#: What the database says of a campaign, for comparison with what the page shows.
FACTS_SCRIPT = """\
import json
from aiida import orm
from aiida.cmdline.utils.common import get_workchain_report
from aiida_mlip_autopipe.campaign.status import campaign_rows
found = orm.QueryBuilder().append(
    orm.WorkflowNode, filters={'process_type': 'aiida.workflows:mlip_autopipe.campaign', 'label': %r},
    project=['id'], tag='campaign').order_by({'campaign': {'ctime': 'desc'}}).first()
facts = {'pk': None}
if found:
    node = orm.load_node(found[0])
    facts = {'pk': node.pk, 'terminated': node.is_terminated, 'exit_status': node.exit_status}
    if node.is_terminated and 'summary' in node.outputs:
        summary = node.outputs.summary.get_dict()
        facts.update(stop_reason=summary['stop_reason'], shipped=summary['shipped'],
                     iterations=[row['iteration'] for row in campaign_rows(node)],
                     heldout=[row.get('heldout_force_rmse') for row in campaign_rows(node)],
                     cells=sorted(node.outputs.validation['cells']) if 'validation' in node.outputs else [],
                     potential=node.outputs.potential.uuid if 'potential' in node.outputs else None,
                     report=get_workchain_report(node, 'REPORT').splitlines()[-4:])
print('FACTS' + json.dumps(facts))
"""


def campaign_facts(env, folder: Path) -> dict:
    import json

    script = folder / 'facts.py'
    script.write_text(FACTS_SCRIPT % CAMPAIGN_NAME)
    output = run([BIN / 'verdi', '-p', PROFILE, 'run', script], env).stdout
    return json.loads(output.split('FACTS', 1)[1])


def test_monitor_of_a_finished_campaign(app_server, page, tmp_path):
    """The campaign of the first test (or the same one from the command line), followed to its end:
    the monitor shows its stop reason, iteration table, held-out learning curve, validation table and
    EOS plot, and exports its potential."""
    from playwright.sync_api import expect

    url, env, folder = app_server
    facts = campaign_facts(env, folder)
    if facts['pk'] is None:
        path = folder / 'cuau-browser.yaml'
        path.write_text(CAMPAIGN_FILE)
        submitted = run([BIN / 'mlip-autopipe', '-p', PROFILE, 'submit', path], env).stdout
        facts = {'pk': int(submitted.split('ActiveLearningWorkChain<')[1].split('>')[0])}
    pk = facts['pk']

    page.set_default_timeout(30_000)
    page.goto(url)
    expect(page.locator('.mlip-wizard')).to_be_visible(timeout=120_000)
    page.locator('.lm-TabBar-tab', has_text='4. Monitor').click()
    options = page.locator('.mlip-monitor-list select option')
    expect(options.filter(has_text=CAMPAIGN_NAME)).to_have_count(1)
    index = [text.split()[0] for text in options.all_inner_texts()].index(str(pk))
    page.locator('.mlip-monitor-list select').select_option(index=index)
    expect(page.locator('.mlip-monitor-state')).to_contain_text(f'Campaign {pk}')
    # the page refreshes itself (every 2 s here) until the daemon has finished the campaign (minutes)
    expect(page.locator('.mlip-monitor-state-text')).to_have_text(re.compile(r'^finished'), timeout=900_000)

    facts = campaign_facts(env, folder)
    assert facts['terminated'] and facts['potential'], facts
    assert facts['iterations'] == [0, 1] and all(value is not None for value in facts['heldout'])
    assert facts['cells'], facts['report']  # the validation report exists
    # stop reason and what ships, as the summary in the database says
    expect(page.locator('.mlip-monitor-state')).to_contain_text(f'stopped: {facts["stop_reason"]}')
    expect(page.locator('.mlip-monitor-state')).to_contain_text(f'ships {facts["shipped"]}')
    # the iteration table: one row per iteration, held-out errors filled in
    table = page.locator('.mlip-monitor-table').inner_text().splitlines()
    assert table[0].split()[:2] == ['it', 'train+'] and [line.split()[0] for line in table[1:]] == ['0', '1']
    assert '-' not in [line.split()[7] for line in table[1:]]  # `F held`: the held-out force RMSE
    # the learning curve (held-out force RMSE against labelled structures) and the EOS plot are drawn
    for css in ('.mlip-monitor-curve', '.mlip-monitor-eos'):
        image = page.locator(css)
        expect(image).to_be_visible()
        assert image.evaluate('(element) => element.naturalWidth') > 300
    # the validation table names every validated cell and property, potential against labeller
    validation = page.locator('.mlip-monitor-validation')
    for cell in facts['cells']:
        expect(validation).to_contain_text(cell)
    expect(validation).to_contain_text('lattice_a (A)')
    expect(validation).to_contain_text('bulk_modulus')

    # the export button writes the potential folder (`mlip-autopipe export`) where the page says
    exports = tmp_path / 'exports'
    fill(page, '.mlip-monitor-export-dir', str(exports))
    page.locator('button.mlip-monitor-export').click()
    message = page.locator('.mlip-monitor-export-message')
    expect(message).to_contain_text(f'exported to {exports / f"{CAMPAIGN_NAME}-{pk}"}', timeout=120_000)
    exported = exports / f'{CAMPAIGN_NAME}-{pk}'
    for name in ('potential.yace', 'potential.yaml', 'in.lammps', 'metadata.json', 'validation.txt'):
        assert (exported / name).is_file(), name
        expect(message).to_contain_text(name)
    import json

    metadata = json.loads((exported / 'metadata.json').read_text())
    assert metadata['campaign']['pk'] == pk and metadata['potential']['uuid'] == facts['potential']
    # the whole monitor in one picture (the docs' one): the page scrolls inside its tab, so the
    # window is made tall enough to hold every part
    page.set_viewport_size({'width': 1280, 'height': 2400})
    shoot(page, tmp_path, 'app_step4_finished')
    # a second export into the same folder is refused, with the reason on the page
    page.locator('button.mlip-monitor-export').click()
    expect(message).to_contain_text('not empty')
