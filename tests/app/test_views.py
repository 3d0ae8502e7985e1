"""The views mirror their models: typed values reach the model, messages reach the field (no browser)."""

from __future__ import annotations

from aiida_mlip_autopipe.app.models import CampaignModel
from aiida_mlip_autopipe.app.views import STEP_TITLES, CampaignStep, CampaignWizard


def _input(step: CampaignStep, css: str):
    found = [w for w in _walk(step) if css in getattr(w, '_dom_classes', ())]
    assert len(found) == 1, css
    return found[0]


def _walk(widget):
    yield widget
    for child in getattr(widget, 'children', ()):
        yield from _walk(child)


def test_campaign_step_shows_the_message_under_the_field():
    model = CampaignModel(protocol='fast')
    step = CampaignStep(model)
    _input(step, 'mlip-campaign-elements').value = 'Cu, Qq'
    assert 'unknown element(s) Qq' in step.errors['elements'].value
    assert step.errors['temperature'].value == ''
    assert 'Fix the fields' in step.status.value
    _input(step, 'mlip-campaign-elements').value = 'Cu Au'
    assert step.errors['elements'].value == ''
    assert model.config['elements'] == ['Cu', 'Au']
    _input(step, 'mlip-campaign-protocol').value = 'stringent'
    assert model.config['exploration']['steps'] == 50000
    assert _input(step, 'mlip-campaign-force-target').value == model.force_target


def test_wizard_has_four_steps_and_an_empty_monitor(aiida_profile_clean, tmp_path):
    wizard = CampaignWizard(interval=60, campaign_dir=str(tmp_path))
    assert [wizard.tabs.get_title(i) for i in range(4)] == list(STEP_TITLES)
    assert 'No campaign yet' in wizard.steps[3].state.value
    # no code in a clean profile: the submit step says which one, and its button is disabled
    assert 'codes.pacemaker' in wizard.submit_model.error
    assert wizard.steps[2].button.disabled


def test_campaign_step_shows_the_composition_field_of_the_number_of_elements():
    model = CampaignModel(protocol='fast')
    step = CampaignStep(model)
    assert step.composition_row.layout.display is None and step.grid_row.layout.display == 'none'
    binary = bytes(step.picture.value)
    assert binary.startswith(b'\x89PNG')
    _input(step, 'mlip-campaign-elements').value = 'Cu, Ag, Au'
    assert step.composition_row.layout.display == 'none' and step.grid_row.layout.display is None
    assert bytes(step.picture.value).startswith(b'\x89PNG') and bytes(step.picture.value) != binary
    ternary = bytes(step.picture.value)
    _input(step, 'mlip-campaign-grid-density').value = 3
    assert model.config['composition_grid'] == {'density': 3} and len(model.compositions) == 19
    assert bytes(step.picture.value) != ternary
    _input(step, 'mlip-campaign-elements').value = 'Cu'
    assert step.picture.layout.display == 'none'
