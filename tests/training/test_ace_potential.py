"""``AcePotential`` on the committed Cu-Au fixture potential."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_mlip_autopipe.data import AcePotential
from aiida_mlip_autopipe.data.ace_potential import normalise_potential_yaml

from .conftest import ACE_CUAU


def test_attributes_and_files(cuau_potential, tmp_path):
    assert cuau_potential.elements == ['Au', 'Cu']
    assert cuau_potential.cutoff == pytest.approx(5.0)
    assert cuau_potential.number_of_functions == 48
    assert set(cuau_potential.reference_energies) == {'Au', 'Cu', 'shift'}
    written = cuau_potential.write_files(tmp_path)
    assert sorted(written) == ['asi', 'yace', 'yaml']
    assert written['yace'].read_bytes() == (ACE_CUAU / 'potential.yace').read_bytes()
    cuau_potential.store()
    assert AcePotential.collection.get(pk=cuau_potential.pk).sha256 == cuau_potential.sha256


def test_identical_content_identical_hash(aiida_profile, tmp_path):
    text = (ACE_CUAU / 'potential.yaml').read_text()
    stamped = text.replace('metadata:\n', 'metadata:\n  starttime: 2026-01-01 10:00:00.1\n  user: someone\n', 1)
    (tmp_path / 'stamped.yaml').write_text(stamped)
    plain = AcePotential.from_files(ACE_CUAU / 'potential.yaml')
    other = AcePotential.from_files(tmp_path / 'stamped.yaml')
    assert normalise_potential_yaml(stamped) == text
    assert plain.sha256 == other.sha256
    assert plain.sha256 != AcePotential.from_files(ACE_CUAU / 'potential.yaml', ACE_CUAU / 'potential.yace').sha256
    assert not plain.has_file('yace')


def test_lammps_lines(cuau_potential):
    assert cuau_potential.lammps_pair_lines() == ['pair_style pace', 'pair_coeff * * potential.yace Au Cu']
    assert cuau_potential.lammps_pair_lines(extrapolation=True) == [
        'pair_style pace/extrapolation',
        'pair_coeff * * potential.yaml potential.asi Au Cu',
    ]
    yaml_only = AcePotential.from_files(ACE_CUAU / 'potential.yaml')
    with pytest.raises(ValueError, match='needs the active set'):
        yaml_only.lammps_pair_lines(extrapolation=True)
    with pytest.raises(ValueError, match=r'needs potential\.yace'):
        yaml_only.lammps_pair_lines()


def test_calculator_reproduces_emt_with_gamma(cuau_potential, emt_cuau_frames):
    """The fixture was fitted to these 80 frames: its train RMSE was 8 meV/atom and 33 meV/A."""
    calculator = cuau_potential.get_calculator()
    energy_errors, force_errors, gammas = [], [], []
    for reference in emt_cuau_frames(80, 0):
        atoms = reference.copy()
        atoms.calc = calculator
        energy = atoms.get_potential_energy() + cuau_potential.reference_energy(atoms.get_chemical_symbols())
        energy_errors.append((energy - reference.get_potential_energy()) / len(atoms))
        force_errors.append(atoms.get_forces() - reference.get_forces())
        gammas.append(calculator.results['gamma'])
    energy_rmse = 1000 * np.sqrt(np.mean(np.square(energy_errors)))
    force_rmse = 1000 * np.sqrt(np.mean(np.square(np.concatenate(force_errors))))
    assert energy_rmse < 15.0
    assert force_rmse < 60.0
    gammas = np.concatenate(gammas)
    assert gammas.min() >= 0.0
    assert 1.0 < gammas.max() < 5.0  # some training atoms sit on the active set's edge (gamma ~ 1)
    # far from the training data, gamma grows: a Cu dimer-like compressed cell
    squeezed = emt_cuau_frames(1, 3)[0]
    squeezed.set_cell(squeezed.cell * 0.8, scale_atoms=True)
    squeezed.calc = calculator
    squeezed.get_potential_energy()
    assert calculator.results['gamma'].max() > 5.0
