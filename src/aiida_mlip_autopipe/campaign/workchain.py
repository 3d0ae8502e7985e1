"""``ActiveLearningWorkChain``: the campaign loop, the only place where the stages are composed.

generation -> (screening) -> labelling -> training -> repeat {exploration -> selection ->
labelling -> refit from the previous potential} until converged or a budget ends -> validation.
"""

from __future__ import annotations

import time

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_, while_

from ..data import TrainingSet
from ..recovery import submit_once
from . import stages
from .config import CampaignError, campaign_from_dict
from .functions import merge_training_sets, summarise_campaign
from .rules import best_iteration, budget_verdict, convergence_verdict, labels_allowed, temperature_schedule


def validate_campaign(value, _):
    """Validate the campaign Dict with the campaign-file model; name each wrong field."""
    try:
        config = campaign_from_dict(value.get_dict())
        stages.check_resources(config)
    except (CampaignError, ValueError) as exception:
        return str(exception)
    return None


class ActiveLearningWorkChain(WorkChain):
    """Produce a validated ACE potential from a campaign file with no human in the loop."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('campaign', valid_type=orm.Dict, validator=validate_campaign, help='The campaign file.')
        spec.input_namespace(
            'initial_structures',
            valid_type=orm.StructureData,
            dynamic=True,
            required=False,
            help='Structures to label first instead of generating them.',
        )
        spec.outline(
            cls.setup,
            if_(cls.should_generate)(cls.run_generation, cls.inspect_generation),
            if_(cls.should_screen)(cls.run_screening, cls.inspect_screening),
            cls.run_labelling,
            cls.inspect_labelling,
            cls.run_training,
            cls.inspect_training,
            while_(cls.should_explore)(
                cls.run_exploration,
                cls.inspect_exploration,
                if_(cls.should_refit)(
                    cls.run_labelling,
                    cls.inspect_labelling,
                    cls.run_training,
                    cls.inspect_training,
                ),
            ),
            cls.run_validation,
            cls.inspect_validation,
            cls.results,
        )
        spec.output(
            'potential',
            valid_type=orm.Data,
            help='The potential of the last fit (see `rules.best_iteration`).',
        )
        spec.output('training_set', valid_type=TrainingSet, help='The training set of the best potential.')
        spec.output('summary', valid_type=orm.Dict, help='Per-iteration table and why the campaign stopped.')
        spec.output(
            'validation', valid_type=orm.Dict, required=False, help='Properties of the potential vs the labeller.'
        )
        spec.output_namespace('iterations', dynamic=True, help='Potential, training set, exploration per iteration.')
        spec.exit_code(310, 'ERROR_GENERATION_FAILED', message='structure generation failed: {message}')
        spec.exit_code(311, 'ERROR_SCREENING_FAILED', message='surrogate screening failed: {message}')
        spec.exit_code(312, 'ERROR_LABELLING_FAILED', message='labelling failed: {message}')
        spec.exit_code(313, 'ERROR_TRAINING_FAILED', message='training failed: {message}')
        spec.exit_code(314, 'ERROR_EXPLORATION_FAILED', message='exploration failed: {message}')
        spec.exit_code(401, 'ERROR_BUDGET_EXHAUSTED', message='{reason}; the best potential is still output')
        spec.exit_code(402, 'ERROR_VALIDATION_FAILED', message='converged, but validation failed: {failed}')

    # -- setup and bookkeeping -------------------------------------------------------------------

    @property
    def config(self):
        """The validated campaign (rebuilt from the stored input; cheap)."""
        return campaign_from_dict(self.inputs.campaign.get_dict())

    def setup(self):
        """Initialise the counters the stop rules read."""
        self.ctx.start = time.time()
        self.ctx.iteration = 0
        self.ctx.dft_calculations = 0
        self.ctx.to_label = dict(self.inputs.get('initial_structures', {}))
        self.ctx.training_set = None
        self.ctx.potential = None
        self.ctx.rows = []
        self.ctx.stop_reason = None
        self.ctx.converged = False
        self.report(
            f'campaign `{self.config.name}`: {", ".join(self.config.elements)}, labeller {self.config.labeller}'
        )

    def _row(self, **values):
        """Update the table row of the current iteration and mirror the table in the node's extras."""
        while len(self.ctx.rows) <= self.ctx.iteration:
            self.ctx.rows.append({'iteration': len(self.ctx.rows), 'state': 'running'})
        self.ctx.rows[self.ctx.iteration].update(values)
        self.node.base.extras.set('campaign_iterations', self.ctx.rows)

    def _elapsed_hours(self) -> float:
        return (time.time() - self.ctx.start) / 3600

    # -- generation and screening ----------------------------------------------------------------

    def should_generate(self):
        """Generate unless the caller gave the first structures."""
        return not self.ctx.to_label

    def run_generation(self):
        """Generate the candidate structures."""
        node = submit_once(self, stages.generation_builder(self.config), 'generation')
        self.report(f'generating candidates: {node.process_label}<{node.pk}>')
        return ToContext(generation=node)

    def inspect_generation(self):
        """Take the generated structures as the first ones to label."""
        node = self.ctx.generation
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_GENERATION_FAILED.format(message=node.exit_message or node.process_state)
        self.ctx.to_label = stages.generated_structures(node)
        self.report(f'generated {len(self.ctx.to_label)} candidate structures')
        return None

    def should_screen(self):
        """Screen with the surrogate when the campaign asks for it."""
        return self.config.screening.enabled

    def run_screening(self):
        """Rank and filter the candidates with the universal potential."""
        node = submit_once(self, stages.screening_builder(self.config, self.ctx.to_label), 'screening')
        self.report(f'screening {len(self.ctx.to_label)} candidates: {node.process_label}<{node.pk}>')
        return ToContext(screening=node)

    def inspect_screening(self):
        """Keep the surrogate's selection for the first DFT batch."""
        node = self.ctx.screening
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_SCREENING_FAILED.format(message=node.exit_message or node.process_state)
        self.ctx.to_label = stages.screened_structures(node)
        self.report(f'screening kept {len(self.ctx.to_label)} candidates')
        return None

    # -- labelling and training ------------------------------------------------------------------

    def run_labelling(self):
        """Label the structures waiting for it, within the DFT budget."""
        allowed = labels_allowed(len(self.ctx.to_label), self.ctx.dft_calculations, self.config.budgets)
        keys = sorted(self.ctx.to_label)[:allowed]
        if len(keys) < len(self.ctx.to_label):
            self.report(f'DFT budget allows {len(keys)} of {len(self.ctx.to_label)} structures')
        structures = {key: self.ctx.to_label[key] for key in keys}
        builder = stages.labelling_builder(self.config, structures)
        node = submit_once(self, builder, f'labelling_{self.ctx.iteration:02d}')
        self.ctx.dft_calculations += len(structures)
        self._row(labels_requested=len(structures), labelling_pk=node.pk)
        self.report(f'labelling {len(structures)} structures: {node.process_label}<{node.pk}>')
        return ToContext(labelling=node)

    def inspect_labelling(self):
        """Merge the new labels into the training set; failed structures stay on the record."""
        node = self.ctx.labelling
        if 'training_set' not in node.outputs:
            return self.exit_codes.ERROR_LABELLING_FAILED.format(message=node.exit_message or node.process_state)
        new = node.outputs.training_set
        failures = node.outputs.failures.get_dict() if 'failures' in node.outputs else {}
        if failures:
            self.report(f'{len(failures)} structures not labelled: ' + ', '.join(sorted(failures)))
        if self.ctx.training_set is None:
            self.ctx.training_set = new
        else:
            self.ctx.training_set = merge_training_sets(
                previous=self.ctx.training_set, new=new, metadata={'call_link_label': f'merge_{self.ctx.iteration}'}
            )
        self.ctx.to_label = {}
        self._row(
            labels_added=new.count,
            labels_failed=len(failures),
            training_set_size=self.ctx.training_set.count,
            dft_cpu_seconds=stages.labelling_cpu_seconds(node),
        )
        if self.ctx.training_set.count == 0:
            return self.exit_codes.ERROR_LABELLING_FAILED.format(message='no structure could be labelled')
        return None

    def run_training(self):
        """Fit the potential, from the previous one when there is one."""
        builder = stages.training_builder(self.config, self.ctx.training_set, self.ctx.potential)
        refusal = stages.training_refusal(builder)
        if refusal:
            self.report(f'cannot fit: {refusal}')
            return self.exit_codes.ERROR_TRAINING_FAILED.format(message=refusal)
        node = submit_once(self, builder, f'training_{self.ctx.iteration:02d}')
        self.report(f'fitting on {self.ctx.training_set.count} structures: {node.process_label}<{node.pk}>')
        return ToContext(training=node)

    def inspect_training(self):
        """Keep the new potential and its test errors."""
        node = self.ctx.training
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_TRAINING_FAILED.format(message=node.exit_message or node.process_state)
        self.ctx.potential, metrics = stages.trained_potential(node)
        namespace = f'iterations.iteration_{self.ctx.iteration:02d}'
        self.out(f'{namespace}.potential', self.ctx.potential)
        self.out(f'{namespace}.training_set', self.ctx.training_set)
        self._row(
            force_rmse_train=metrics.get('force_rmse_train'),
            force_rmse_test=metrics.get('force_rmse_test'),
            energy_rmse_test=metrics.get('energy_rmse_test'),
            potential_pk=self.ctx.potential.pk,
            training_set_pk=self.ctx.training_set.pk,
        )
        self.report(
            f'iteration {self.ctx.iteration}: test RMSE {metrics.get("force_rmse_test", float("nan")):.1f} meV/A, '
            f'{metrics.get("energy_rmse_test", float("nan")):.1f} meV/atom'
        )
        return None

    # -- exploration loop ------------------------------------------------------------------------

    def should_explore(self):
        """Explore again unless converged or a budget has run out."""
        if self.ctx.converged or self.ctx.stop_reason:
            return False
        reason = budget_verdict(
            self.ctx.iteration, self.ctx.dft_calculations, self._elapsed_hours(), self.config.budgets
        )
        if reason:
            self.ctx.stop_reason = reason
            self.report(f'stopping: {reason}')
            self._row(state='budget')
            return False
        return True

    def run_exploration(self):
        """Run MD with the current potential over this iteration's temperatures."""
        config = self.config
        temperatures = temperature_schedule(
            config.temperature.min,
            config.temperature.max,
            config.exploration.temperature_points,
            self.ctx.iteration,
            ramp_iterations=max(1, config.budgets.iterations - 1),
        )
        builder = stages.exploration_builder(
            config, self.ctx.potential, self.ctx.training_set, temperatures, self.ctx.iteration
        )
        node = submit_once(self, builder, f'exploration_{self.ctx.iteration:02d}')
        self._row(temperatures=temperatures)
        self.report(
            f'iteration {self.ctx.iteration}: exploring at {temperatures} K with {node.process_label}<{node.pk}>'
        )
        return ToContext(exploration=node)

    def inspect_exploration(self):
        """Read the high-gamma fraction, apply the stop rule and queue the selected frames."""
        node = self.ctx.exploration
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_EXPLORATION_FAILED.format(message=node.exit_message or node.process_state)
        report, selected = stages.exploration_result(node)
        namespace = f'iterations.iteration_{self.ctx.iteration:02d}'
        self.out(f'{namespace}.exploration_report', report)
        fraction = report['high_gamma_fraction']
        row = self.ctx.rows[self.ctx.iteration]
        self._row(high_gamma_fraction=fraction, max_gamma=report.get('max_gamma'), selected=len(selected))
        converged, reason = convergence_verdict(
            fraction, row.get('force_rmse_test') or float('nan'), row.get('energy_rmse_test'), self.config.targets
        )
        self.report(f'iteration {self.ctx.iteration}: {reason}')
        if converged:
            self.ctx.converged = True
            self._row(state='converged')
            return None
        self._row(state='refit')
        self.ctx.iteration += 1
        self.ctx.to_label = {f'it{self.ctx.iteration:02d}_{key}': value for key, value in selected.items()}
        if not selected:
            self.report('exploration selected no new structure')
        return None

    def should_refit(self):
        """Label and refit when the exploration selected something and the loop goes on."""
        return bool(self.ctx.to_label) and not self.ctx.converged

    # -- validation and results ------------------------------------------------------------------

    def _best(self):
        """Return (iteration, potential, training set) of the potential to output (``rules.best_iteration``)."""
        rows = [row for row in self.ctx.rows if row.get('potential_pk')]
        index = best_iteration([row.get('force_rmse_test') or float('nan') for row in rows])
        row = rows[index]
        return row['iteration'], orm.load_node(row['potential_pk']), orm.load_node(row['training_set_pk'])

    def run_validation(self):
        """Compare the best potential with the labeller (``ValidationWorkChain``)."""
        _, potential, _ = self._best()
        node = submit_once(self, stages.validation_builder(self.config, potential), 'validation')
        self.report(f'validating {potential.__class__.__name__}<{potential.pk}>: {node.process_label}<{node.pk}>')
        return ToContext(validation=node)

    def inspect_validation(self):
        """Keep the validation report; remember which properties failed."""
        node = self.ctx.validation
        self.ctx.validation_failed = None
        if 'report' not in node.outputs:
            self.ctx.validation_failed = node.exit_message or f'validation did not finish ({node.process_state})'
            self.report(f'validation: {self.ctx.validation_failed}')
            return
        self.out('validation', node.outputs.report)
        failed = node.outputs.report.get('failed', [])
        if failed:
            self.ctx.validation_failed = node.exit_message or ', '.join(map(str, failed))
        self.report(f'validation: {"failed: " + self.ctx.validation_failed if failed else "every property passed"}')

    def results(self):
        """Output the best potential and the summary; a budget stop has its own exit status."""
        iteration, potential, training_set = self._best()
        self.out('potential', potential)
        self.out('training_set', training_set)
        summary = {
            'iterations': self.ctx.rows,
            'best_iteration': iteration,
            'converged': self.ctx.converged,
            'stop_reason': self.ctx.stop_reason or 'converged',
            'dft_calculations': self.ctx.dft_calculations,
        }
        self.out('summary', summarise_campaign(orm.Dict(summary), metadata={'call_link_label': 'summary'}))
        self.report(f'best potential from iteration {iteration}: {potential.__class__.__name__}<{potential.pk}>')
        if not self.ctx.converged:
            return self.exit_codes.ERROR_BUDGET_EXHAUSTED.format(reason=self.ctx.stop_reason)
        if self.ctx.validation_failed:
            return self.exit_codes.ERROR_VALIDATION_FAILED.format(failed=self.ctx.validation_failed)
        return None
