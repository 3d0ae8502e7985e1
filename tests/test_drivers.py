"""The drivers that codes run (pacemaker's ``run_pacemaker.py``, the surrogate's ``surrogate_run.py``).

Each is a module of the package, shipped as a file and copied as it is into the job's folder, where
the code's own Python runs it: it must import nothing of the plugin, and importing it must run
nothing, so that its functions are tested here like any other.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aiida_mlip_autopipe.setup import default_executable

DRIVERS = {
    'aiida_mlip_autopipe.training.run_pacemaker': 'pacemaker',
    'aiida_mlip_autopipe.screening.surrogate_run': 'surrogate',
}
#: Modules the drivers may import at their top: the standard library only.
STANDARD = set(sys.stdlib_module_names) | {'__future__'}


@pytest.mark.parametrize('name', DRIVERS)
def test_a_driver_imports_the_standard_library_only_and_runs_nothing_on_import(name, tmp_path, monkeypatch):
    path = Path(importlib.util.find_spec(name).origin)
    monkeypatch.chdir(tmp_path)
    # loaded from its file alone, as the job's Python does, under a name of its own
    spec = importlib.util.spec_from_file_location(f'driver_{DRIVERS[name]}', path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing run
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split('.')[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f'{name} imports relatively: the job folder holds no package'
            imported.add(node.module.split('.')[0])
    top = {
        alias.name.split('.')[0] if isinstance(node, ast.Import) else node.module.split('.')[0]
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert top <= STANDARD, f'{name} imports {top - STANDARD} at its top; the code environment may not have them'
    assert 'aiida_mlip_autopipe' not in imported and 'aiida' not in imported


def test_the_pacemaker_job_gets_the_driver_as_shipped():
    from aiida_mlip_autopipe.training import pacemaker_io, run_pacemaker

    text = Path(run_pacemaker.__file__).read_text()
    assert pacemaker_io.driver_script() == text == pacemaker_io.DRIVER_SCRIPT
    assert pacemaker_io.DRIVER_FILENAME == Path(run_pacemaker.__file__).name
    # the helpers tested through pacemaker_io are the driver's own functions
    for name in (
        'lower_inner_cutoff',
        'dataset_summary',
        'cgroup_memory',
        'memory_record',
        'activeset_needs_all_atoms',
    ):
        assert getattr(pacemaker_io, name) is getattr(run_pacemaker, name)


def test_the_pacemaker_driver_records_a_failed_fit_in_the_pacemaker_environment(tmp_path):
    """pacemaker's Python runs the file alone (no plugin there): a fit without input fails and is recorded."""
    from aiida_mlip_autopipe.training import pacemaker_io

    python = default_executable('pacemaker')
    (tmp_path / pacemaker_io.DRIVER_FILENAME).write_text(pacemaker_io.driver_script())
    arguments = pacemaker_io.driver_arguments(60, None, 0.2, 4_000_000)
    result = subprocess.run([python, *arguments], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    status = json.loads((tmp_path / 'status.json').read_text())
    assert status['steps']['pacemaker'] not in (0, 'timeout')  # no input.yaml
    assert list(status['steps']) == ['pacemaker']  # nothing converted after a failed fit
    assert 0 < status['memory']['limit_kb'] <= 4_000_000 and status['memory']['peak_rss_kb'] > 0
    assert (tmp_path / 'pacemaker.err').read_text() or (tmp_path / 'pacemaker.out').read_text()


def test_the_surrogate_driver_reports_unreadable_inputs(tmp_path, monkeypatch):
    from aiida_mlip_autopipe.screening import surrogate_run

    monkeypatch.chdir(tmp_path)
    (tmp_path / 'parameters.json').write_text('{"relax": false}')
    (tmp_path / 'structures.json').write_text('[{"key": ')  # truncated
    assert surrogate_run.main() == 2
    results = json.loads((tmp_path / surrogate_run.RESULTS).read_text())
    assert results['status'] == 'input_error' and results['message'].startswith('JSONDecodeError')
