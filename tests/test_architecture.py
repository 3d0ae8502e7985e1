"""The layering of ``docs/architecture.rst``, checked on the imports of every module (read with ``ast``).

Floors, from the ground up:

- ground: ``common`` (shared helpers, importing nothing else of the package), ``data`` (the data
  types) and ``pseudos`` (pseudopotential families), which import only the ground floor;
- set-up: ``setup``, ``installers``, ``production``; they import the ground and set-up floors;
- stages: ``generation``, ``screening``, ``labelling``, ``training``, ``exploration``, ``validation``;
  a stage imports itself and the ground floor, never another stage (a stage that runs another's
  process loads it by entry point, as the validation does its labellers);
- composers: ``campaign`` and ``benchmark`` import anything below them; ``cli`` and ``app`` import
  anything, the campaign included.

Imports inside functions count as well. Every package and top-level module must have a floor, and
``docs/architecture.rst`` must name it, so a new one is placed in the picture when it is added.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import aiida_mlip_autopipe

PACKAGE = Path(aiida_mlip_autopipe.__file__).parent
ARCHITECTURE = Path(__file__).resolve().parents[1] / 'docs' / 'architecture.rst'
ROOT = PACKAGE.name

GROUND = ('common', 'data', 'pseudos')
SETUP = ('setup', 'installers', 'production')
STAGES = ('generation', 'screening', 'labelling', 'training', 'exploration', 'validation')
COMPOSERS = ('campaign', 'benchmark')
FRONTS = ('cli', 'app')

#: What each floor may import (besides itself, which a stage may always import).
ALLOWED = {
    'common': set(),
    **{unit: set(GROUND) for unit in GROUND if unit != 'common'},
    **{unit: {*GROUND, *SETUP} for unit in SETUP},
    **{unit: set(GROUND) for unit in STAGES},
    **{unit: {*GROUND, *SETUP, *STAGES, 'campaign'} for unit in COMPOSERS},
    **{unit: {*GROUND, *SETUP, *STAGES, *COMPOSERS, *FRONTS} for unit in FRONTS},
}


def _units(package_dir: Path) -> list[str]:
    """Return the sub-packages and top-level modules of the package in ``package_dir``."""
    units = [path.name for path in package_dir.iterdir() if (path / '__init__.py').is_file()]
    units += [path.stem for path in package_dir.glob('*.py') if path.stem != '__init__']
    return sorted(units)


def imported_units(path: Path, package_dir: Path) -> list[tuple[int, str]]:
    """Return ``(line, unit)`` for every import in the module at ``path`` of another unit of the package.

    A unit is the first name below the package (``screening`` for ``..screening.selection``).
    Relative imports are resolved against the module's place in ``package_dir``.
    """
    module = [ROOT, *path.relative_to(package_dir).with_suffix('').parts]
    if module[-1] == '__init__':
        module = module[:-1]
    package = module if path.name == '__init__.py' else module[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name.split('.') for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = [*base, *(node.module.split('.') if node.module else [])]
            else:
                target = node.module.split('.')
            # `from .. import labelling` names the units in its aliases
            targets = [[*target, alias.name] for alias in node.names] if len(target) == 1 else [target]
        else:
            continue
        for target in targets:
            if target[0] == ROOT and len(target) > 1:
                found.append((node.lineno, target[1]))
    return found


def layering_violations(package_dir: Path) -> list[str]:
    """Return one line per import that breaks the floors (see the module docstring), and per unit with no floor."""
    units = _units(package_dir)
    problems = [f'{unit}: no floor in test_architecture.ALLOWED' for unit in units if unit not in ALLOWED]
    for path in sorted(package_dir.rglob('*.py')):
        relative = path.relative_to(package_dir)
        unit = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        if unit == '__init__':
            continue
        for line, imported in imported_units(path, package_dir):
            # a name of the package's own `__init__` (`from .. import __version__`) is no unit
            if imported in units and imported != unit and imported not in ALLOWED.get(unit, set()):
                problems.append(f'{relative}:{line}: {unit} imports {imported}')
    return problems


def test_no_stage_imports_another_stage():
    assert layering_violations(PACKAGE) == []


def test_a_planted_stage_to_stage_import_is_flagged(tmp_path):
    """The check reads the tree it is given: a copy with one stage importing another, at the top and in a function."""
    copy = tmp_path / ROOT
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns('__pycache__'))
    assert layering_violations(copy) == []
    selection = copy / 'screening' / 'selection.py'
    lines = selection.read_text().splitlines()
    selection.write_text('\n'.join([*lines, 'from ..labelling.protocol import PROTOCOLS', '']))
    workchain = copy / 'training' / 'workchain.py'
    workchain.write_text(
        workchain.read_text() + '\n\ndef _late():\n    from aiida_mlip_autopipe.exploration import selection\n'
    )
    init = copy / 'validation' / '__init__.py'
    init.write_text(init.read_text() + '\nfrom .. import generation\n')
    violations = layering_violations(copy)
    assert violations == [
        f'screening/selection.py:{len(lines) + 1}: screening imports labelling',
        f'training/workchain.py:{len(workchain.read_text().splitlines())}: training imports exploration',
        f'validation/__init__.py:{len(init.read_text().splitlines())}: validation imports generation',
    ]
    # a new sub-package must be given a floor
    (copy / 'sampler').mkdir()
    (copy / 'sampler' / '__init__.py').write_text('')
    assert 'sampler: no floor in test_architecture.ALLOWED' in layering_violations(copy)


def test_the_architecture_page_names_every_unit():
    text = ARCHITECTURE.read_text()
    missing = [unit for unit in _units(PACKAGE) if f'{unit}/' not in text and f'{unit}.py' not in text]
    assert missing == []
