"""The Debian LDA family: measured cutoffs and coverage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiida_mlip_autopipe.pseudos import (
    DEBIAN_LDA_FILES,
    DEBIAN_PSEUDO_DIR,
    check_family_covers,
    load_cutoff_table,
    pseudo_is_norm_conserving,
)


def test_table_covers_the_lda_set_with_ordered_stringencies():
    table = load_cutoff_table()
    assert set(table) == set(DEBIAN_LDA_FILES) >= {'Al', 'Cu', 'Au', 'Ni', 'Fe', 'Si'}
    for element, row in table.items():
        assert row['file'] == DEBIAN_LDA_FILES[element]
        low, normal, high = (row[s]['cutoff_wfc'] for s in ('low', 'normal', 'high'))
        assert low <= normal < high
        assert row['normal']['energy_error_mev_atom'] <= 1.0
        assert row['normal']['force_error_mev_a'] <= 10.0


def test_norm_conserving_files_are_recognised():
    assert pseudo_is_norm_conserving(Path(DEBIAN_PSEUDO_DIR) / 'Al.pz-vbc.UPF')
    assert not pseudo_is_norm_conserving(Path(DEBIAN_PSEUDO_DIR) / 'Cu.pz-d-rrkjus.UPF')


def test_family_has_cutoffs_per_protocol(pseudo_family):
    table = load_cutoff_table()
    assert sorted(pseudo_family.elements) == sorted(DEBIAN_LDA_FILES)
    for stringency in ('low', 'normal', 'high'):
        wfc, rho = pseudo_family.get_recommended_cutoffs(elements=('Au',), stringency=stringency, unit='Ry')
        assert (wfc, rho) == (table['Au'][stringency]['cutoff_wfc'], table['Au'][stringency]['cutoff_rho'])


def test_missing_element_names_what_the_family_covers(pseudo_family):
    with pytest.raises(ValueError, match=r'no pseudopotential for U, Zr; it covers Al, Au, Cu, Fe, Mg, Ni, Si, Ti'):
        check_family_covers(pseudo_family, {'Cu', 'Zr', 'U'})
