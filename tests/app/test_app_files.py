"""The AiiDAlab app files: metadata in setup.cfg, start.py's link, the notebook that builds the wizard."""

from __future__ import annotations

import configparser
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_setup_cfg_has_the_aiidalab_metadata():
    config = configparser.ConfigParser()
    config.read(ROOT / 'setup.cfg')
    section = config['aiidalab']
    assert section['title'] == 'ACE potentials by active learning'
    assert section['categories'].split() == ['classical', 'quantum', 'technology-aiida']
    assert 'Development Status :: 3 - Alpha' in config['metadata']['classifiers']  # AiiDAlab state: development


def test_start_page_links_the_notebook_which_builds_the_wizard():
    spec = importlib.util.spec_from_file_location('app_start', ROOT / 'start.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    widget = module.get_start_widget(appbase='../apps/mlip', jupbase='../..', notebase='../../notebooks')
    assert 'href="../apps/mlip/mlip_autopipe.ipynb"' in widget.value
    cells = json.loads((ROOT / 'mlip_autopipe.ipynb').read_text())['cells']
    source = ''.join(line for cell in cells if cell['cell_type'] == 'code' for line in cell['source'])
    assert 'from aiida_mlip_autopipe.app import create_app' in source
    assert source.rstrip().splitlines()[-1].startswith('create_app(')  # the wizard is the cell's output
