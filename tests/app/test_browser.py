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
    fill(page, '.mlip-campaign-composition-points', '2')
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
    fill(page, '.mlip-campaign-dft-calculations', '8')
    # a fit small enough for the 8 EMT labels (the fast preset's 16 functions per element need more atoms)
    fit = 'fit: {overrides: {pacemaker: {parameters: {number_of_functions_per_element: 8}}}}'
    fill(page, '.mlip-campaign-extra', f'exploration: {{steps: 200}}\n{fit}')
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
