"""Sphinx configuration of the aiida-mlip-autopipe documentation."""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / '_ext'))

# Importing aiida creates its configuration folder, and the `aiida-workchain` directive loads the
# default profile: give the build a throw-away configuration with an in-memory profile.
os.environ['AIIDA_PATH'] = tempfile.mkdtemp(prefix='mlip-autopipe-docs-')

from aiida.manage.configuration import create_profile, get_config

from aiida_mlip_autopipe import __version__

_config = get_config(create=True)
create_profile(_config, name='docs', email='docs@localhost', storage_backend='core.sqlite_temp', storage_config={})
_config.set_default_profile('docs', overwrite=True)
_config.store()

project = 'aiida-mlip-autopipe'
author = 'aiida-mlip-autopipe developers'
copyright = '2026, aiida-mlip-autopipe developers'
version = release = __version__

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
    'sphinx_click',
    'aiida.sphinxext',
    'campaign_reference',
]
exclude_patterns = ['_build', 'cutoffs_table.rst', 'campaign_fields.rst', '_ext']
html_theme = 'furo'
html_title = 'aiida-mlip-autopipe'
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
nitpicky = False
