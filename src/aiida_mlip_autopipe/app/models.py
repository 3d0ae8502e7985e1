"""The app's state and logic as traitlets models, testable without a browser.

Each wizard step has a model; the views in :mod:`.views` only mirror the models' traits and call
their methods. Validation is the campaign file's own (:func:`campaign_from_dict`, then
:func:`~aiida_mlip_autopipe.campaign.launch.check_campaign` with the resources), so the app and the
``mlip-autopipe submit`` command refuse the same inputs with the same messages.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import traitlets as tl
import yaml

from ..campaign.config import PROTOCOLS, CampaignError, campaign_from_dict, protocol_presets
from ..common.mappings import deep_merge

LOGGER = logging.getLogger(__name__)

#: Campaign-step fields: widget key -> campaign-file path. An error whose field path starts with
#: the path is shown next to that widget.
FIELDS = {
    'name': 'name',
    'elements': 'elements',
    'composition': 'composition',
    'composition_grid': 'composition_grid',
    'temperature': 'temperature',
    'force_target': 'targets.force_rmse_mev_a',
    'energy_target': 'targets.energy_rmse_mev_atom',
    'protocol': 'protocol',
    'labeller': 'labeller',
    'iterations': 'budgets.iterations',
    'dft_calculations': 'budgets.dft_calculations',
    'extra': '',
}

#: Code kinds the resources step offers, as in ``CampaignConfig.codes``.
CODE_KINDS = ('pw', 'pacemaker', 'lmp', 'surrogate')

CAMPAIGN_PROCESS_TYPE = 'aiida.workflows:mlip_autopipe.campaign'

_ERROR_LINE = re.compile(r'field `([^`]*)`: (.*)')


def errors_by_field(message: str) -> dict[str, str]:
    """Split a :class:`CampaignError` message into ``{widget key: message}`` (see :data:`FIELDS`).

    A field without a widget of its own (e.g. ``exploration.steps``) goes to ``extra``, the
    free-form YAML box where it can only have come from.
    """
    errors: dict[str, list[str]] = {}
    for line in message.splitlines():
        match = _ERROR_LINE.search(line)
        if not match:
            continue
        path, text = match.groups()
        key = next(
            (key for key, prefix in FIELDS.items() if prefix and (path == prefix or path.startswith(prefix + '.'))),
            'extra',
        )
        errors.setdefault(key, []).append(text if path == FIELDS.get(key) else f'{path}: {text}')
    if not errors and message:
        errors['extra'] = [message]
    return {key: '; '.join(texts) for key, texts in errors.items()}


class CampaignModel(tl.HasTraits):
    """Step 1: what to learn and how well; validated on every change."""

    name = tl.Unicode('my-campaign')
    elements = tl.Unicode('Cu, Au', help='Chemical symbols separated by commas or spaces.')
    composition_min = tl.Float(0.0)
    composition_max = tl.Float(1.0)
    composition_points = tl.Int(3)
    grid_density = tl.Int(2, help='Density of the simplex sampling of three or more elements (0 to 3).')
    temperature_min = tl.Float(300.0)
    temperature_max = tl.Float(1200.0)
    temperature_points = tl.Int(3)
    force_target = tl.Float(80.0, help='Test-set force RMSE to reach (meV/A).')
    energy_target = tl.Float(5.0, help='Test-set energy RMSE to reach (meV/atom).')
    protocol = tl.Enum(PROTOCOLS, default_value='balanced')
    labeller = tl.Enum(('qe', 'emt'), default_value='qe')
    iterations = tl.Int(10)
    dft_calculations = tl.Int(600)
    seed = tl.Int(0)
    extra = tl.Unicode('', help='More campaign-file fields as YAML (e.g. `exploration: {steps: 500}`).')

    errors = tl.Dict(help='Widget key -> message, empty when the campaign is valid.')
    config = tl.Dict(allow_none=True, help='The validated campaign (filled from the protocol), or None.')
    compositions = tl.List(help="The campaign's composition points ({element: fraction}), empty while invalid.")

    _inputs = (
        'name',
        'elements',
        'composition_min',
        'composition_max',
        'composition_points',
        'grid_density',
        'temperature_min',
        'temperature_max',
        'temperature_points',
        'force_target',
        'energy_target',
        'protocol',
        'labeller',
        'iterations',
        'dft_calculations',
        'seed',
        'extra',
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if 'protocol' not in kwargs:
            self._apply_preset(self.protocol)
        self.observe(self._on_protocol, 'protocol')
        self.observe(lambda _: self.validate(), list(self._inputs))
        self.validate()

    def _apply_preset(self, protocol: str) -> None:
        preset = protocol_presets()[protocol]
        self.force_target = float(preset['targets']['force_rmse_mev_a'])
        self.energy_target = float(preset['targets'].get('energy_rmse_mev_atom') or self.energy_target)
        self.iterations = int(preset['budgets']['iterations'])
        self.dft_calculations = int(preset['budgets']['dft_calculations'])

    def _on_protocol(self, change) -> None:
        """A new protocol brings its targets and budgets (the user can change them again)."""
        with self.hold_trait_notifications():
            self._apply_preset(change['new'])

    @property
    def valid(self) -> bool:
        return not self.errors

    def element_list(self) -> list[str]:
        return [symbol for symbol in re.split(r'[\s,;]+', self.elements.strip()) if symbol]

    def to_dict(self) -> dict:
        """Return the campaign-file fields the user set (without the preset's)."""
        data = {'name': self.name.strip(), 'elements': self.element_list()}
        if len(data['elements']) == 2:
            data['composition'] = {
                'min': self.composition_min,
                'max': self.composition_max,
                'points': self.composition_points,
            }
        elif len(data['elements']) > 2:
            data['composition_grid'] = {'density': self.grid_density}
        data |= {
            'temperature': {
                'min': self.temperature_min,
                'max': self.temperature_max,
                'points': self.temperature_points,
            },
            'protocol': self.protocol,
            'labeller': self.labeller,
            'seed': self.seed,
            'targets': {'force_rmse_mev_a': self.force_target, 'energy_rmse_mev_atom': self.energy_target},
            'budgets': {'iterations': self.iterations, 'dft_calculations': self.dft_calculations},
        }
        if self.extra.strip():
            extra = yaml.safe_load(self.extra)
            if not isinstance(extra, dict):
                raise CampaignError('field `extra`: give a mapping of campaign-file fields')
            data = deep_merge(data, extra)
        return data

    def validate(self) -> bool:
        """Validate with the campaign file's rules; fill ``errors`` and ``config``; return validity."""
        try:
            config = campaign_from_dict(self.to_dict())
        except CampaignError as error:
            self.errors = errors_by_field(str(error))
            self.config = None
            self.compositions = []
            return False
        except yaml.YAMLError as error:
            self.errors = {'extra': f'not valid YAML: {error}'}
            self.config = None
            self.compositions = []
            return False
        self.errors = {}
        self.config = config.model_dump(mode='json')
        self.compositions = config.compositions()
        return True

    def composition_png(self) -> bytes:
        """Return the picture of the composition points (binary: a line; ternary: a triangle; more: bars), or
        empty bytes while the campaign is invalid."""
        if not self.compositions:
            return b''
        from ..campaign.compositions import composition_png

        elements = list(self.compositions[0])
        return composition_png(self.compositions, elements, f'{len(self.compositions)} composition points')


class ResourcesModel(tl.HasTraits):
    """Step 2: the computer and the codes, from the loaded profile."""

    computers = tl.List(tl.Unicode())
    computer = tl.Unicode('', allow_none=True)
    code_options = tl.Dict(
        help='Code kind -> `label@computer` of the codes on the computer whose plugin can run it (for `lmp`: '
        'also codes registered for aiida-lammps).'
    )
    codes = tl.Dict(help='Code kind -> chosen `label@computer`.')

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.observe(lambda _: self._fill_codes(), 'computer')

    def refresh(self) -> None:
        """Read the computers and codes of the profile."""
        from aiida import orm

        self.computers = sorted(computer.label for computer in orm.Computer.collection.all())
        if self.computer not in self.computers:
            self.computer = 'localhost' if 'localhost' in self.computers else (self.computers or [''])[0]
        self._fill_codes()

    def _fill_codes(self) -> None:
        from aiida import orm

        from ..setup import accepted_plugins

        options = {}
        for kind in CODE_KINDS:
            plugins = {'attributes.input_plugin': {'in': list(accepted_plugins(kind))}}
            query = orm.QueryBuilder().append(orm.InstalledCode, filters=plugins)
            labels = sorted(code.full_label for code in query.all(flat=True) if code.computer.label == self.computer)
            options[kind] = labels
        self.code_options = options
        chosen = {}
        for kind, labels in options.items():
            previous = self.codes.get(kind)
            preferred = f'{kind}@{self.computer}'
            chosen[kind] = previous if previous in labels else preferred if preferred in labels else (labels or [''])[0]
        self.codes = chosen

    def campaign_codes(self) -> dict[str, str]:
        """Return the ``codes`` section for the campaign file (only the kinds that have a code)."""
        return {kind: label for kind, label in self.codes.items() if label}


class SubmitModel(tl.HasTraits):
    """Step 3: the campaign file that will be submitted, its last check and the submission."""

    yaml_text = tl.Unicode('')
    error = tl.Unicode('')
    message = tl.Unicode('')
    submitted_pk = tl.Int(None, allow_none=True)
    campaign_dir = tl.Unicode(help='Where the submitted campaign files are kept.')

    def __init__(self, campaign: CampaignModel, resources: ResourcesModel, **kwargs):
        super().__init__(**kwargs)
        self.campaign = campaign
        self.resources = resources
        campaign.observe(lambda _: self.update(), 'config')
        resources.observe(lambda _: self.update(), 'codes')
        self.update()

    @tl.default('campaign_dir')
    def _default_campaign_dir(self):
        return str(Path.home() / 'mlip-autopipe' / 'campaigns')

    def campaign_dict(self) -> dict | None:
        """Return the campaign file's content (user fields + chosen codes), or None while invalid."""
        if not self.campaign.validate():
            return None
        data = self.campaign.to_dict()
        codes = self.resources.campaign_codes()
        if codes:
            data['codes'] = {**data.get('codes', {}), **codes}
        return data

    def update(self) -> None:
        """Refresh the campaign-file preview and check codes, pseudopotentials and labeller."""
        data = self.campaign_dict()
        if data is None:
            self.yaml_text = ''
            self.error = 'the campaign step has errors:\n' + '\n'.join(
                f'{key}: {text}' for key, text in self.campaign.errors.items()
            )
            return
        self.yaml_text = yaml.safe_dump(data, sort_keys=False)
        self.error = self.check()

    def check(self) -> str:
        """Return why the campaign cannot be submitted with these resources ('' when it can)."""
        from ..campaign.launch import check_campaign

        try:
            check_campaign(self.campaign_dict())
        except (CampaignError, ValueError) as error:
            return str(error)
        return ''

    def submit(self):
        """Write the campaign file and submit it to the daemon; return the node (None when refused)."""
        from ..campaign.launch import launch_campaign

        self.update()
        self.message = ''
        if self.error or not self.yaml_text:
            return None
        folder = Path(self.campaign_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = self.campaign.name.strip()
        path = folder / f'{name}-{time.strftime("%Y%m%d-%H%M%S")}.yaml'
        path.write_text(self.yaml_text)
        try:
            node = launch_campaign(path)
        except (CampaignError, ValueError, RuntimeError) as error:
            self.error = str(error)
            return None
        self.submitted_pk = node.pk
        self.message = f'submitted {node.process_label}<{node.pk}> `{name}` (campaign file {path})'
        LOGGER.info(self.message)
        return node


def gamma_statistics(rows: list[dict]) -> list[dict]:
    """Return per explored iteration: temperatures, high-gamma fraction, largest gamma, frames selected."""
    return [
        {
            'iteration': row['iteration'],
            'temperatures': row.get('temperatures'),
            'high_gamma_fraction': row.get('high_gamma_fraction'),
            'max_gamma': row.get('max_gamma'),
            'selected': row.get('selected'),
        }
        for row in rows
        if row.get('high_gamma_fraction') is not None or row.get('max_gamma') is not None
    ]


def dft_cost(rows: list[dict]) -> dict:
    """Return the labelling cost so far: calculations requested, labelled, failed, CPU seconds."""
    seconds = [row['dft_cpu_seconds'] for row in rows if row.get('dft_cpu_seconds') is not None]
    return {
        'requested': sum(row.get('labels_requested') or 0 for row in rows),
        'labelled': sum(row.get('labels_added') or 0 for row in rows),
        'failed': sum(row.get('labels_failed') or 0 for row in rows),
        'cpu_seconds': float(sum(seconds)) if seconds else None,
    }


def labelling_failures(rows: list[dict]) -> list[dict]:
    """Return the structures a labelling refused or failed, with the reason, per iteration."""
    from aiida import orm

    found = []
    for row in rows:
        if not row.get('labelling_pk'):
            continue
        node = orm.load_node(row['labelling_pk'])
        if 'failures' not in node.outputs:
            continue
        for key, failure in sorted(node.outputs.failures.get_dict().items()):
            found.append(
                {
                    'iteration': row['iteration'],
                    'structure': key,
                    'stage': failure.get('stage'),
                    'exit_status': failure.get('exit_status'),
                    'reason': failure.get('message'),
                }
            )
    return found


def campaign_report(node, lines: int = 12) -> str:
    """Return the last ``lines`` lines of the report of the campaign and its sub-processes."""
    from aiida.cmdline.utils.common import get_workchain_report

    text = get_workchain_report(node, 'REPORT')
    if text.startswith('No log messages'):
        return ''
    return '\n'.join(text.splitlines()[-lines:])


class MonitorModel(tl.HasTraits):
    """Step 4: the campaigns of the profile and the details of the selected one."""

    campaigns = tl.List(tl.Dict(), help='pk, label, state, exit status, created (newest first).')
    selected = tl.Int(None, allow_none=True)
    state = tl.Unicode('')
    rows = tl.List(tl.Dict())
    table = tl.Unicode('')
    gamma = tl.List(tl.Dict())
    cost = tl.Dict()
    failures = tl.List(tl.Dict())
    summary = tl.Unicode('')
    validation = tl.Unicode('')
    learning_curve = tl.Bytes(b'', help='PNG of the learning curve, empty before the first fit.')
    eos_plot = tl.Bytes(b'', help='PNG of the EOS curves, potential vs labeller, once validated.')
    report = tl.Unicode('', help="The last lines of the campaign's report (`verdi process report`).")
    report_lines = tl.Int(12)
    limit = tl.Int(50)
    exportable = tl.Bool(False, help='The selected campaign has a potential to export.')
    export_dir = tl.Unicode(
        str(Path.home() / 'mlip-autopipe' / 'exports'), help='Where `export` writes (one folder per campaign).'
    )
    export_message = tl.Unicode('')
    export_error = tl.Unicode('')

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._eos_plots: dict = {}
        self.observe(self._selected_changed, 'selected')

    def _selected_changed(self, _=None) -> None:
        self.export_message = self.export_error = ''
        self.refresh_selected()

    def refresh(self) -> None:
        """Re-read the campaign list and the selected campaign."""
        from aiida import orm

        query = orm.QueryBuilder().append(
            orm.WorkflowNode, filters={'process_type': CAMPAIGN_PROCESS_TYPE}, project=['*']
        )
        query.order_by({orm.WorkflowNode: {'ctime': 'desc'}}).limit(self.limit)
        self.campaigns = [
            {
                'pk': node.pk,
                'label': node.label,
                'state': node.process_state.value if node.process_state else 'unknown',
                'exit_status': node.exit_status,
                'created': node.ctime.strftime('%Y-%m-%d %H:%M'),
            }
            for node in query.all(flat=True)
        ]
        if self.selected is None and self.campaigns:
            self.selected = self.campaigns[0]['pk']
        else:
            self.refresh_selected()

    def refresh_selected(self) -> None:
        """Re-read the table, gamma statistics, cost, failures, validation and learning curve."""
        from aiida import orm

        from ..campaign.status import campaign_rows, format_table, plot_learning_curve
        from ..validation.report import format_validation_table

        if self.selected is None:
            return
        node = orm.load_node(self.selected)
        state = node.process_state.value if node.process_state else 'unknown'
        if node.exit_status is not None:
            state += f' [{node.exit_status}]'
        if node.exit_message:
            state += f' {node.exit_message}'
        rows = campaign_rows(node)
        self.rows = rows
        self.table = format_table(rows)
        self.gamma = gamma_statistics(rows)
        self.cost = dft_cost(rows)
        self.failures = labelling_failures(rows)
        self.summary = ''
        if 'summary' in node.outputs:
            summary = node.outputs.summary.get_dict()
            shipped = f'{summary["shipped"]} ({summary["shipped_reason"]})'
            self.summary = f'stopped: {summary["stop_reason"]}; ships {shipped}'
        self.validation = (
            format_validation_table(node.outputs.validation.get_dict()) if 'validation' in node.outputs else ''
        )
        self.report = campaign_report(node, self.report_lines)
        if any(row.get('heldout_force_rmse') is not None for row in rows):
            final_scores = node.outputs.summary.get('final_scores') if 'summary' in node.outputs else None
            self.learning_curve = _png(lambda path: plot_learning_curve(rows, path, final_scores))
        else:
            self.learning_curve = b''
        validation = node.outputs.validation.uuid if 'validation' in node.outputs else None
        if validation not in self._eos_plots:  # a finished campaign's plot is drawn once, not every refresh
            self._eos_plots[validation] = eos_plot(node) if validation else b''
        self.eos_plot = self._eos_plots[validation]
        self.exportable = 'potential' in node.outputs
        self.state = state

    def export_folder(self) -> Path:
        """Return the folder :meth:`export` writes the selected campaign to: ``<export_dir>/<label>-<pk>``."""
        from aiida import orm

        node = orm.load_node(self.selected)
        name = re.sub(r'[^A-Za-z0-9_.-]+', '-', node.label or 'campaign').strip('-') or 'campaign'
        return Path(self.export_dir).expanduser() / f'{name}-{node.pk}'

    def export(self) -> Path | None:
        """Export the selected campaign's potential (``mlip-autopipe export``); return the folder, None if refused.

        The message names the folder and its files; a refusal (no potential yet, a folder that is not
        empty) is in ``export_error``.
        """
        from aiida import orm

        from ..campaign.export import ExportError, export_node

        self.export_message = self.export_error = ''
        if self.selected is None:
            self.export_error = 'select a campaign first'
            return None
        folder = self.export_folder()
        try:
            written = export_node(orm.load_node(self.selected), folder)
        except ExportError as exception:
            self.export_error = str(exception)
            return None
        self.export_message = f'exported to {folder}: {", ".join(sorted(written))}'
        LOGGER.info(self.export_message)
        return folder


def _png(draw) -> bytes:
    """Return the PNG bytes ``draw(path)`` writes."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / 'figure.png'
        draw(path)
        return path.read_bytes()


def eos_plot(node) -> bytes:
    """Return the PNG of the campaign's EOS validation (potential vs labeller), or empty bytes."""
    from ..validation.plot import plot_eos_comparison

    if 'validation' not in node.outputs:
        return b''
    report = node.outputs.validation.get_dict()
    if not report.get('eos_curves'):
        return b''
    return _png(lambda path: plot_eos_comparison(report, path))
