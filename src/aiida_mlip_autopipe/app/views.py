"""ipywidgets views of the app's models: four wizard steps in tabs.

Every widget a browser test needs carries a CSS class ``mlip-<step>-<field>`` (e.g.
``mlip-campaign-elements``, ``mlip-submit-button``, ``mlip-monitor-table``); error messages next to
a field carry ``mlip-error``.
"""

from __future__ import annotations

import asyncio
import html
import logging

import ipywidgets as ipw
import traitlets as tl

from ..campaign.compositions import MAX_ELEMENTS
from ..campaign.config import PROTOCOLS, protocol_presets
from .models import CODE_KINDS, CampaignModel, MonitorModel, ResourcesModel, SubmitModel

LOGGER = logging.getLogger(__name__)

STEP_TITLES = ('1. Campaign', '2. Resources', '3. Submit', '4. Monitor')

_STYLE = {'description_width': '11em'}
_LAYOUT = {'width': '32em'}


def _classed(widget: ipw.Widget, *classes: str) -> ipw.Widget:
    for name in classes:
        widget.add_class(name)
    return widget


def _error_label() -> ipw.HTML:
    return _classed(ipw.HTML(''), 'mlip-error')


def _show_error(widget: ipw.HTML, message: str | None) -> None:
    widget.value = f'<span style="color:#b00020">{html.escape(message)}</span>' if message else ''


def _pre(text: str) -> str:
    return f'<pre style="font-family:monospace;font-size:12px;line-height:1.3">{html.escape(text)}</pre>'


def _html_table(rows: list[dict], columns: list[tuple[str, str]], css: str) -> str:
    if not rows:
        return '<i>none</i>'
    head = ''.join(f'<th style="padding:2px 8px;text-align:left">{html.escape(title)}</th>' for _, title in columns)
    body = ''
    for row in rows:
        cells = ''
        for key, _ in columns:
            value = row.get(key)
            if isinstance(value, float):
                value = f'{value:.3g}'
            cells += f'<td style="padding:2px 8px">{html.escape("-" if value is None else str(value))}</td>'
        body += f'<tr>{cells}</tr>'
    return f'<table class="{css}"><tr>{head}</tr>{body}</table>'


class CampaignStep(ipw.VBox):
    """Elements, compositions (a binary's range or the simplex density of three or more, with their picture),
    temperature range, targets, protocol, labeller, budgets."""

    def __init__(self, model: CampaignModel, **kwargs):
        self.model = model
        self.errors: dict[str, ipw.HTML] = {}
        rows = []

        def field(key: str, *widgets: ipw.Widget, help_text: str = '') -> ipw.VBox:
            error = _error_label()
            self.errors[key] = error
            hint = [ipw.HTML(f'<span style="color:#666">{html.escape(help_text)}</span>')] if help_text else []
            rows.append(_classed(ipw.VBox([ipw.HBox([*widgets, *hint]), error]), f'mlip-field-{key}'))
            return rows[-1]

        def text(trait: str, description: str, css: str, **options) -> ipw.Text:
            widget = _classed(ipw.Text(description=description, style=_STYLE, layout=_LAYOUT, **options), css)
            tl.link((model, trait), (widget, 'value'))
            return widget

        def number(trait: str, description: str, css: str, kind=ipw.FloatText, width='8em', **options) -> ipw.Widget:
            style = _STYLE if description else {}
            widget = _classed(kind(description=description, style=style, layout={'width': width}, **options), css)
            tl.link((model, trait), (widget, 'value'))
            return widget

        field('name', text('name', 'Campaign name', 'mlip-campaign-name'))
        field(
            'elements',
            text('elements', 'Elements', 'mlip-campaign-elements', placeholder='Cu, Au'),
            help_text=f'1 to {MAX_ELEMENTS} chemical symbols',
        )
        self.composition_row = field(
            'composition',
            number('composition_min', 'Fraction of last', 'mlip-campaign-composition-min', width='19em'),
            number('composition_max', '', 'mlip-campaign-composition-max'),
            number('composition_points', '', 'mlip-campaign-composition-points', kind=ipw.IntText, width='5em'),
            help_text='min, max, points (binary: x in A(1-x)B(x))',
        )
        density = _classed(
            ipw.IntSlider(min=0, max=3, description='Simplex density', style=_STYLE, layout={'width': '32em'}),
            'mlip-campaign-grid-density',
        )
        tl.link((model, 'grid_density'), (density, 'value'))
        self.grid_row = field(
            'composition_grid',
            density,
            help_text='1: end members, pairs, centre; 2: + points towards each end member; 3: finer '
            '(0: only `composition_points` in More fields)',
        )
        self.picture = _classed(ipw.Image(format='png', layout={'max_width': '34em'}), 'mlip-campaign-picture')
        rows.append(self.picture)
        field(
            'temperature',
            number('temperature_min', 'Temperature (K)', 'mlip-campaign-temperature-min', width='19em'),
            number('temperature_max', '', 'mlip-campaign-temperature-max'),
            number('temperature_points', '', 'mlip-campaign-temperature-points', kind=ipw.IntText, width='5em'),
            help_text='min, max, points',
        )
        field(
            'force_target',
            number('force_target', 'Force RMSE target', 'mlip-campaign-force-target', width='19em'),
            help_text='meV/A on the test set',
        )
        field(
            'energy_target',
            number('energy_target', 'Energy RMSE target', 'mlip-campaign-energy-target', width='19em'),
            help_text='meV/atom on the test set',
        )
        presets = protocol_presets()
        protocol = _classed(
            ipw.ToggleButtons(options=PROTOCOLS, description='Protocol', style=_STYLE), 'mlip-campaign-protocol'
        )
        tl.link((model, 'protocol'), (protocol, 'value'))
        protocol_help = ipw.HTML()

        def describe(_=None):
            protocol_help.value = (
                f'<span style="color:#666">{html.escape(presets[model.protocol]["description"])}</span>'
            )

        model.observe(describe, 'protocol')
        describe()
        field('protocol', protocol, protocol_help)
        labeller = _classed(
            ipw.ToggleButtons(
                options=[('DFT (pw.x)', 'qe'), ('EMT (test oracle)', 'emt')], description='Labeller', style=_STYLE
            ),
            'mlip-campaign-labeller',
        )
        tl.link((model, 'labeller'), (labeller, 'value'))
        field('labeller', labeller)
        field(
            'iterations',
            number('iterations', 'Iterations', 'mlip-campaign-iterations', kind=ipw.IntText, width='19em'),
            help_text='active-learning iterations at most',
        )
        field(
            'dft_calculations',
            number(
                'dft_calculations', 'DFT calculations', 'mlip-campaign-dft-calculations', kind=ipw.IntText, width='19em'
            ),
            help_text='labelling calculations at most',
        )
        extra = _classed(
            ipw.Textarea(
                description='More fields (YAML)',
                placeholder='exploration: {steps: 500}',
                style=_STYLE,
                layout={'width': '40em', 'height': '6em'},
            ),
            'mlip-campaign-extra',
        )
        tl.link((model, 'extra'), (extra, 'value'))
        field('extra', extra)
        self.status = _classed(ipw.HTML(), 'mlip-campaign-status')
        model.observe(self._show_errors, 'errors')
        self._show_errors()
        model.observe(self._show_compositions, ['compositions', 'elements'])
        self._show_compositions()
        super().__init__([*rows, self.status], **kwargs)
        self.add_class('mlip-campaign-step')

    def _show_compositions(self, _=None) -> None:
        """Show the composition field the number of elements takes, and the picture of the points."""
        count = len(self.model.element_list())
        self.composition_row.layout.display = None if count == 2 else 'none'
        self.grid_row.layout.display = None if count >= 3 else 'none'
        picture = self.model.composition_png() if count >= 2 else b''
        self.picture.value = picture
        self.picture.layout.display = None if picture else 'none'

    def _show_errors(self, _=None) -> None:
        for key, widget in self.errors.items():
            _show_error(widget, self.model.errors.get(key))
        if self.model.errors:
            self.status.value = '<b style="color:#b00020">Fix the fields marked in red.</b>'
        else:
            self.status.value = '<b style="color:#1b5e20">The campaign is valid.</b>'


class ResourcesStep(ipw.VBox):
    """The computer and one code per kind, from the profile."""

    def __init__(self, model: ResourcesModel, **kwargs):
        self.model = model
        self.computer = _classed(ipw.Dropdown(description='Computer', style=_STYLE, layout=_LAYOUT), 'mlip-computer')
        self.code_widgets = {
            kind: _classed(ipw.Dropdown(description=f'{kind} code', style=_STYLE, layout=_LAYOUT), f'mlip-code-{kind}')
            for kind in CODE_KINDS
        }
        refresh = _classed(ipw.Button(description='Reload from profile', icon='refresh'), 'mlip-resources-refresh')
        refresh.on_click(lambda _: model.refresh())
        model.observe(self._update, ['computers', 'computer', 'code_options', 'codes'])
        self.computer.observe(self._computer_chosen, 'value')
        for kind, widget in self.code_widgets.items():
            widget.observe(lambda change, kind=kind: self._code_chosen(kind, change), 'value')
        note = ipw.HTML(
            '<span style="color:#666">Codes are registered by <code>mlip-autopipe setup</code>; '
            'pw.x is needed only with the DFT labeller, the surrogate only when screening is enabled.</span>'
        )
        self.error = _error_label()
        super().__init__([self.computer, *self.code_widgets.values(), refresh, note, self.error], **kwargs)
        self.add_class('mlip-resources-step')
        self._update()

    def _update(self, _=None) -> None:
        self.computer.options = self.model.computers
        self.computer.value = self.model.computer if self.model.computer in self.model.computers else None
        for kind, widget in self.code_widgets.items():
            options = self.model.code_options.get(kind, [])
            widget.options = [('(none)', ''), *((label, label) for label in options)]
            widget.value = self.model.codes.get(kind, '') if self.model.codes.get(kind, '') in options else ''

    def _computer_chosen(self, change) -> None:
        if change['new'] and change['new'] != self.model.computer:
            self.model.computer = change['new']

    def _code_chosen(self, kind: str, change) -> None:
        if change['new'] is not None and self.model.codes.get(kind) != change['new']:
            self.model.codes = {**self.model.codes, kind: change['new']}


class SubmitStep(ipw.VBox):
    """The campaign file that will be submitted, the check of its resources and the button."""

    def __init__(self, model: SubmitModel, on_submitted=None, **kwargs):
        self.model = model
        self.on_submitted = on_submitted
        self.preview = _classed(ipw.HTML(), 'mlip-submit-yaml')
        self.error = _classed(_error_label(), 'mlip-submit-error')
        self.message = _classed(ipw.HTML(), 'mlip-submit-message')
        self.button = _classed(
            ipw.Button(description='Submit campaign', button_style='success', icon='play', layout={'width': '16em'}),
            'mlip-submit-button',
        )
        self.button.on_click(self._submit)
        model.observe(self._update, ['yaml_text', 'error', 'message'])
        super().__init__(
            [ipw.HTML('<b>Campaign file to submit</b>'), self.preview, self.error, self.button, self.message], **kwargs
        )
        self.add_class('mlip-submit-step')
        self._update()

    def _update(self, _=None) -> None:
        self.preview.value = _pre(self.model.yaml_text) if self.model.yaml_text else '<i>(no valid campaign yet)</i>'
        _show_error(self.error, self.model.error)
        self.message.value = (
            f'<b style="color:#1b5e20">{html.escape(self.model.message)}</b>' if self.model.message else ''
        )
        self.button.disabled = bool(self.model.error)

    def _submit(self, _=None) -> None:
        self.button.disabled = True
        self.message.value = 'submitting...'
        try:
            node = self.model.submit()
        except Exception as exception:  # shown to the user: the app must not die on a failed submission
            LOGGER.exception('submission failed')
            self.model.error = f'submission failed: {exception}'
            node = None
        self._update()
        if node is not None and self.on_submitted is not None:
            self.on_submitted(node)


class MonitorStep(ipw.VBox):
    """The campaign list and, for the selected campaign, its progress; refreshes every ``interval`` s."""

    def __init__(self, model: MonitorModel, interval: float = 5.0, **kwargs):
        self.model = model
        self.interval = interval
        self.campaigns = _classed(
            ipw.Select(description='Campaigns', rows=6, style=_STYLE, layout={'width': '56em'}), 'mlip-monitor-list'
        )
        self.campaigns.observe(self._campaign_chosen, 'value')
        self.auto = _classed(ipw.Checkbox(value=True, description=f'Refresh every {interval:g} s'), 'mlip-monitor-auto')
        refresh = _classed(ipw.Button(description='Refresh', icon='refresh'), 'mlip-monitor-refresh')
        refresh.on_click(lambda _: self.refresh())
        self.state = _classed(ipw.HTML(), 'mlip-monitor-state')
        self.table = _classed(ipw.HTML(), 'mlip-monitor-table')
        self.curve = _classed(ipw.Image(format='png', layout={'max_width': '800px'}), 'mlip-monitor-curve')
        self.gamma = _classed(ipw.HTML(), 'mlip-monitor-gamma')
        self.cost = _classed(ipw.HTML(), 'mlip-monitor-cost')
        self.failures = _classed(ipw.HTML(), 'mlip-monitor-failures')
        self.validation = _classed(ipw.HTML(), 'mlip-monitor-validation')
        self.eos = _classed(ipw.Image(format='png', layout={'max_width': '900px'}), 'mlip-monitor-eos')
        self.updated = _classed(ipw.HTML(), 'mlip-monitor-updated')
        self.report = _classed(ipw.HTML(), 'mlip-monitor-report')
        self.export_dir = _classed(
            ipw.Text(value=model.export_dir, description='Export into', style=_STYLE, layout={'width': '48em'}),
            'mlip-monitor-export-dir',
        )
        self.export_dir.observe(lambda change: setattr(model, 'export_dir', change['new']), 'value')
        self.export_button = _classed(
            ipw.Button(
                description='Export the potential',
                icon='download',
                button_style='primary',
                disabled=True,
                layout={'width': '16em'},
            ),
            'mlip-monitor-export',
        )
        self.export_button.on_click(lambda _: self.export())
        self.export_message = _classed(ipw.HTML(), 'mlip-monitor-export-message')
        model.observe(self._update_list, 'campaigns')
        model.observe(
            self._update_details,
            [
                'state',
                'rows',
                'gamma',
                'cost',
                'failures',
                'summary',
                'validation',
                'learning_curve',
                'eos_plot',
                'exportable',
                'report',
            ],
        )
        model.observe(self._update_export, ['export_message', 'export_error'])
        super().__init__(
            [
                self.campaigns,
                ipw.HBox([refresh, self.auto, self.updated]),
                self.state,
                ipw.HTML('<b>Iterations</b> (force RMSE meV/A, energy RMSE meV/atom)'),
                self.table,
                self.curve,
                ipw.HTML('<b>Extrapolation grade (gamma) per exploration</b>'),
                self.gamma,
                ipw.HTML('<b>DFT cost so far</b>'),
                self.cost,
                ipw.HTML('<b>Structures not labelled</b>'),
                self.failures,
                ipw.HTML('<b>Validation (potential vs labeller)</b>'),
                self.validation,
                self.eos,
                ipw.HTML(
                    '<b>Export</b>: the potential with LAMMPS and ASE examples, training and held-out sets, '
                    'validation and provenance (as <code>mlip-autopipe export</code>)'
                ),
                ipw.HBox([self.export_dir, self.export_button]),
                self.export_message,
                ipw.HTML('<b>Latest report lines</b>'),
                self.report,
            ],
            **kwargs,
        )
        self.add_class('mlip-monitor-step')
        self._task = None
        self._update_list()
        self._update_details()

    def refresh(self) -> None:
        try:
            self.model.refresh()
        except Exception:  # a transient database error must not stop the monitor
            LOGGER.exception('monitor refresh failed')
            return
        import time

        self.updated.value = f'<span style="color:#666">updated {time.strftime("%H:%M:%S")}</span>'

    def export(self) -> None:
        """Export the selected campaign's potential into a folder of its own under the chosen one."""
        self.export_button.disabled = True
        try:
            self.model.export()
        except Exception as exception:  # shown on the page, never a dead button
            LOGGER.exception('export failed')
            self.model.export_error = f'export failed: {exception}'
        finally:
            self.export_button.disabled = not self.model.exportable

    def _update_export(self, _=None) -> None:
        if self.model.export_error:
            _show_error(self.export_message, self.model.export_error)
        else:
            self.export_message.value = html.escape(self.model.export_message)

    def start(self) -> None:
        """Refresh now and then every ``interval`` seconds on the kernel's event loop."""
        self.refresh()
        try:
            loop = asyncio.get_running_loop()  # the kernel's loop, in Voila and Jupyter
        except RuntimeError:  # plain Python: no loop to poll on, refresh with the button
            return
        if self._task is None:
            self._task = loop.create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.auto.value:
                self.refresh()

    def _campaign_chosen(self, change) -> None:
        if change['new'] is not None and change['new'] != self.model.selected:
            self.model.selected = change['new']

    def _update_list(self, _=None) -> None:
        options = [
            (
                f'{c["pk"]:>6}  {c["label"]:<24} {c["state"]}'
                + (f' [{c["exit_status"]}]' if c['exit_status'] not in (None, 0) else '')
                + f'  {c["created"]}',
                c['pk'],
            )
            for c in self.model.campaigns
        ]
        if list(self.campaigns.options) != options:
            self.campaigns.options = options
        if self.model.selected in [pk for _, pk in options]:
            self.campaigns.value = self.model.selected

    def _update_details(self, _=None) -> None:
        model = self.model
        if model.selected is None:
            self.state.value = '<i>No campaign yet: submit one in step 3.</i>'
            return
        self.state.value = (
            f'<b>Campaign {model.selected}</b>: <span class="mlip-monitor-state-text">{html.escape(model.state)}</span>'
            + (f'<br>{html.escape(model.summary)}' if model.summary else '')
        )
        self.table.value = _pre(model.table) if model.rows else '<i>no iteration yet</i>'
        self.curve.value = model.learning_curve
        self.curve.layout.display = None if model.learning_curve else 'none'
        self.gamma.value = _html_table(
            model.gamma,
            [
                ('iteration', 'iteration'),
                ('temperatures', 'temperatures (K)'),
                ('high_gamma_fraction', 'fraction above lower gamma'),
                ('max_gamma', 'max gamma'),
                ('selected', 'selected'),
            ],
            'mlip-gamma-table',
        )
        cost = model.cost or {}
        seconds = cost.get('cpu_seconds')
        self.cost.value = (
            f'{cost.get("requested", 0)} calculations requested, {cost.get("labelled", 0)} labelled, '
            f'{cost.get("failed", 0)} failed' + (f'; {seconds:.0f} s of pw.x wall time' if seconds is not None else '')
        )
        self.failures.value = _html_table(
            model.failures,
            [('iteration', 'iteration'), ('structure', 'structure'), ('stage', 'stage'), ('reason', 'reason')],
            'mlip-failures-table',
        )
        self.validation.value = _pre(model.validation) if model.validation else '<i>not yet</i>'
        self.eos.value = model.eos_plot
        self.eos.layout.display = None if model.eos_plot else 'none'
        self.export_button.disabled = not model.exportable
        self.report.value = _pre(model.report) if model.report else '<i>none yet</i>'


class CampaignWizard(ipw.VBox):
    """The four steps in tabs; submitting a campaign opens the monitor on it."""

    def __init__(self, interval: float = 5.0, campaign_dir: str | None = None, **kwargs):
        self.campaign_model = CampaignModel()
        self.resources_model = ResourcesModel()
        self.resources_model.refresh()
        options = {'campaign_dir': campaign_dir} if campaign_dir else {}
        self.submit_model = SubmitModel(self.campaign_model, self.resources_model, **options)
        self.monitor_model = MonitorModel()
        self.steps = [
            CampaignStep(self.campaign_model),
            ResourcesStep(self.resources_model),
            SubmitStep(self.submit_model, on_submitted=self._submitted),
            MonitorStep(self.monitor_model, interval=interval),
        ]
        self.tabs = _classed(ipw.Tab(children=self.steps), 'mlip-wizard-tabs')
        for index, title in enumerate(STEP_TITLES):
            self.tabs.set_title(index, title)
        header = ipw.HTML(
            '<h2>ACE potential by active learning</h2><p>Describe the alloy and the temperatures, choose the '
            'codes, submit, and watch the learning curve. Every step is recorded in AiiDA.</p>'
        )
        style = ipw.HTML('<style>.mlip-monitor-list select, .mlip-monitor-list option {font-family: monospace}</style>')
        super().__init__([style, header, self.tabs], **kwargs)
        self.add_class('mlip-wizard')
        self.steps[3].start()

    def _submitted(self, node) -> None:
        self.monitor_model.refresh()
        self.monitor_model.selected = node.pk
        self.tabs.selected_index = 3
