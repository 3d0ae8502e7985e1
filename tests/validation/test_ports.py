"""``ValidationWorkChain`` exposes the `qe` labeller's ports instead of declaring them again."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import WorkflowFactory

from aiida_mlip_autopipe.data import AcePotential
from aiida_mlip_autopipe.validation.workchain import DFT_INPUTS, ValidationWorkChain, validate_inputs

from .test_properties import FIXTURE


def test_the_qe_ports_are_the_labellers_own():
    labeller = WorkflowFactory('mlip_autopipe.labelling.dft').spec().inputs
    inputs = ValidationWorkChain.spec().inputs
    for name in DFT_INPUTS:
        assert inputs[name].valid_type == labeller[name].valid_type
        assert inputs[name].has_default() == labeller[name].has_default()
        if labeller[name].has_default():
            assert inputs[name].default().value == labeller[name].default().value
        assert inputs[name].help.startswith(labeller[name].help)
    # exposing at the top level keeps the validation's own namespace: its validator, no unknown inputs
    assert inputs.validator is validate_inputs and not inputs.dynamic


def test_an_unknown_input_is_refused(python_code):
    potential = AcePotential.from_files(*(FIXTURE / f'potential.{suffix}' for suffix in ('yaml', 'yace', 'asi')))
    with pytest.raises(ValueError, match='pseudo_familly'):
        run_get_node(
            ValidationWorkChain,
            potential=potential.store(),
            python_code=python_code,
            labeller=orm.Str('emt'),
            pseudo_familly=orm.Str('typo'),
        )
