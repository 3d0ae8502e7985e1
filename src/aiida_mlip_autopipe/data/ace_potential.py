"""``AcePotential``: an ACE potential as pacemaker leaves it (B-basis YAML, Ctilde YACE, active set).

Repository files: ``potential.yaml`` (B-basis, what ``pair_style pace/extrapolation`` and pyace's
active-set evaluator need), ``potential.yace`` (Ctilde basis for ``pair_style pace``; may be
absent for an interim potential) and ``potential.asi`` (active-set inverse; may be absent).
Time stamps and the user name that pacemaker writes into the YAML metadata are dropped, so the
same fit gives the same files, attributes and node hash.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path

import yaml
from aiida import orm

__all__ = ('AcePotential', 'normalise_potential_yaml')

FILENAMES = {'yaml': 'potential.yaml', 'yace': 'potential.yace', 'asi': 'potential.asi'}
#: metadata keys pacemaker fills with times or the user name
VOLATILE_METADATA = ('starttime', 'intermediate_time', 'user')


def normalise_potential_yaml(text: str) -> str:
    """Return a B-basis YAML without the volatile metadata lines (start time, interim time, user)."""
    lines = text.splitlines(keepends=True)
    pattern = re.compile(rf'^  ({"|".join(VOLATILE_METADATA)}):')
    out, in_metadata = [], False
    for line in lines:
        if not line.startswith(' '):
            in_metadata = line.startswith('metadata:')
        elif in_metadata and pattern.match(line):
            continue
        out.append(line)
    return ''.join(out)


def _basis_summary(text: str) -> dict:
    """Return elements, cutoff, number of functions and reference energies of a B-basis YAML."""
    content = yaml.safe_load(text)
    if not isinstance(content, dict) or 'species' not in content:
        raise ValueError('not a pacemaker B-basis YAML (no `species` section)')
    elements = set()
    cutoffs = []
    functions = 0
    for block in content['species']:
        names = str(block['speciesblock']).split()
        elements.update(names)
        if 'rcutij' in block:
            cutoffs.append(float(block['rcutij']))
        functions += len(block.get('nbody', []))
    reference = (content.get('metadata') or {}).get('reference_energy')
    reference = json.loads(reference) if isinstance(reference, str) else (reference or {})
    return {
        'elements': sorted(elements),
        'cutoff': max(cutoffs),
        'number_of_functions': functions,
        'reference_energies': {key: float(value) for key, value in sorted(reference.items())},
    }


class AcePotential(orm.Data):
    """An ACE potential: ``potential.yaml`` (B-basis), ``potential.yace`` and ``potential.asi``.

    Attributes: ``elements`` (sorted symbols; also the LAMMPS element order), ``cutoff`` (A),
    ``number_of_functions`` (all elements), ``reference_energies`` (eV per atom of each element
    plus ``shift``, as pacemaker subtracted them; the potential predicts
    ``E - sum(reference) + shift * N``) and ``sha256`` of the files.
    """

    @classmethod
    def from_files(cls, yaml, yace=None, asi=None) -> AcePotential:
        """Return an unstored potential from a B-basis ``yaml`` and optional ``yace`` and ``asi`` paths."""
        node = cls()
        node.set_files(
            Path(yaml).read_text(),
            Path(yace).read_bytes() if yace is not None else None,
            Path(asi).read_bytes() if asi is not None else None,
        )
        return node

    def set_files(self, yaml_text: str, yace: bytes | None = None, asi: bytes | None = None) -> None:
        """Store the files (YAML normalised) and set the attributes."""
        yaml_text = normalise_potential_yaml(yaml_text)
        summary = _basis_summary(yaml_text)
        contents = {'yaml': yaml_text.encode(), 'yace': yace, 'asi': asi}
        digest = hashlib.sha256()
        for key, content in contents.items():
            digest.update(key.encode())
            if content is not None:
                digest.update(hashlib.sha256(content).digest())
                self.base.repository.put_object_from_bytes(content, FILENAMES[key])
        for key, value in summary.items():
            self.base.attributes.set(key, value)
        self.base.attributes.set('sha256', digest.hexdigest())

    @property
    def elements(self) -> list[str]:
        """Chemical symbols, sorted (the element order of the LAMMPS lines)."""
        return self.base.attributes.get('elements')

    @property
    def cutoff(self) -> float:
        """Largest radial cutoff (A)."""
        return self.base.attributes.get('cutoff')

    @property
    def number_of_functions(self) -> int:
        """Number of ACE basis functions over all elements."""
        return self.base.attributes.get('number_of_functions')

    @property
    def reference_energies(self) -> dict[str, float]:
        """Per-element reference energies (eV) and ``shift`` pacemaker took off the energies."""
        return self.base.attributes.get('reference_energies', {})

    @property
    def sha256(self) -> str:
        """SHA-256 over the stored files."""
        return self.base.attributes.get('sha256')

    def has_file(self, key: str) -> bool:
        """Return whether file ``key`` (``yaml``, ``yace`` or ``asi``) is stored."""
        return FILENAMES[key] in self.base.repository.list_object_names()

    def get_content(self, key: str) -> bytes:
        """Return the bytes of file ``key`` (``yaml``, ``yace`` or ``asi``)."""
        return self.base.repository.get_object_content(FILENAMES[key], mode='rb')

    def reference_energy(self, symbols) -> float:
        """Return the energy (eV) to add to the potential's energy of atoms ``symbols`` to get the labeller's."""
        reference = self.reference_energies
        shift = reference.get('shift', 0.0)
        return float(sum(reference.get(symbol, 0.0) - shift for symbol in symbols))

    def write_files(self, folder) -> dict[str, Path]:
        """Write the stored files into ``folder``; return ``{'yaml'|'yace'|'asi': path}`` of those present."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = {}
        for key, name in FILENAMES.items():
            if self.has_file(key):
                path = folder / name
                path.write_bytes(self.get_content(key))
                written[key] = path
        return written

    def get_calculator(self, active_set: bool = True, **kwargs):
        """Return pyace's ASE ``PyACECalculator`` on the B-basis.

        With ``active_set`` (and a stored ``.asi``) the per-atom extrapolation grade is in
        ``calc.results['gamma']``. Energies are relative to :attr:`reference_energies` (add
        :meth:`reference_energy` for the labeller's total energy). ``kwargs`` go to pyace.
        """
        from pyace import PyACECalculator
        from pyace.basis import BBasisConfiguration

        with tempfile.TemporaryDirectory() as folder:
            files = self.write_files(folder)
            calculator = PyACECalculator(BBasisConfiguration(str(files['yaml'])), **kwargs)
            if active_set:
                if 'asi' not in files:
                    raise ValueError('this potential has no active set (potential.asi); use active_set=False')
                calculator.set_active_set(str(files['asi']))
        return calculator

    def lammps_pair_lines(
        self,
        extrapolation: bool = False,
        yaml: str = FILENAMES['yaml'],
        yace: str = FILENAMES['yace'],
        asi: str = FILENAMES['asi'],
    ) -> list[str]:
        """Return the LAMMPS ``pair_style`` and ``pair_coeff`` lines for files written by :meth:`write_files`.

        Plain ``pace`` reads the ``.yace``; ``pace/extrapolation`` needs the B-basis ``.yaml`` plus
        the ``.asi`` (a ``.yace`` fails there). Elements in the order of :attr:`elements`.
        """
        elements = ' '.join(self.elements)
        if extrapolation:
            if not self.has_file('asi'):
                raise ValueError(
                    '`pace/extrapolation` needs the active set (potential.asi), which this potential lacks'
                )
            return ['pair_style pace/extrapolation', f'pair_coeff * * {yaml} {asi} {elements}']
        if not self.has_file('yace'):
            raise ValueError('`pair_style pace` needs potential.yace, which this potential lacks')
        return ['pair_style pace', f'pair_coeff * * {yace} {elements}']
