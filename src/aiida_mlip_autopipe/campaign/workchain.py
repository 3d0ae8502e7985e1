"""``ActiveLearningWorkChain``: the campaign loop, the only place where the stages are composed.

generation -> (screening) -> labelling -> training -> repeat {exploration -> selection ->
labelling -> refit from the previous potential} until converged or a budget ends -> (final refit
from scratch, and the last iteration's MD with it) -> choice of the potential to ship -> validation.

Every labelled batch gives a stratified share to a held-out set that is never trained on; every
potential is scored on it, the stop rule reads those scores, and the potential that ships is chosen
on the final held-out set (``rules.best_iteration``, ``rules.refit_ships``).
"""

from __future__ import annotations

import time

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_, while_

from ..common.engine import submit_once
from ..data import AcePotential, TrainingSet
from . import stages
from .config import CampaignError, campaign_from_dict
from .functions import merge_training_sets, score_potentials, split_held_out_labels, summarise_campaign
from .rules import (
    best_iteration,
    budget_verdict,
    convergence_verdict,
    explored_stably,
    idle_exploration_streak,
    labels_allowed,
    refit_ships,
    structure_kind,
    temperature_schedule,
)

#: Held-out errors copied into the iteration row, by the row key.
SCORE_COLUMNS = {
    'heldout_force_rmse': 'force_rmse',
    'heldout_force_p95': 'force_p95',
    'heldout_force_max': 'force_max',
    'heldout_energy_rmse': 'energy_rmse',
    'heldout_stress_rmse': 'stress_rmse',
}
#: Exploration report figures copied into the iteration row, by the row key.
EXPLORATION_COLUMNS = {
    'high_gamma_fraction': 'high_gamma_fraction',
    'max_gamma': 'max_gamma',
    'runs_total': 'runs_total',
    'runs_halted': 'runs_halted',
    'runs_failed': 'runs_failed',
    'frames_above_upper': 'frames_above_upper',
    'temperature_explored': 'temperature_max',
    'compositions_explored': 'compositions',
    'selected': 'selected',
}
FINAL_REFIT = 'final_refit'


def validate_campaign(value, _):
    """Validate the campaign Dict with the campaign-file model; name each wrong field."""
    try:
        config = campaign_from_dict(value.get_dict())
        stages.check_resources(config)
    except (CampaignError, ValueError) as exception:
        return str(exception)
    return None


def composition_label(structure) -> str:
    """Return the composition of a structure (StructureData or ASE atoms) as ``Au0.25Cu0.75`` (fractions to 0.05)."""
    atoms = structure.get_ase() if hasattr(structure, 'get_ase') else structure
    symbols = atoms.get_chemical_symbols()
    return ''.join(
        f'{symbol}{round(20 * symbols.count(symbol) / len(symbols)) / 20:g}' for symbol in sorted(set(symbols))
    )


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
            if_(cls.should_check_labels)(cls.run_label_check, cls.inspect_label_check),
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
            if_(cls.should_refit_from_scratch)(
                cls.run_final_refit,
                cls.inspect_final_refit,
                while_(cls.should_explore_refit)(
                    cls.run_refit_exploration,
                    cls.inspect_refit_exploration,
                    if_(cls.should_label_for_refit)(
                        cls.run_labelling,
                        cls.inspect_labelling,
                        cls.run_final_refit,
                        cls.inspect_final_refit,
                    ),
                ),
            ),
            cls.choose_potential,
            cls.run_validation,
            cls.inspect_validation,
            cls.results,
        )
        spec.output(
            'potential',
            valid_type=AcePotential,
            help='The potential that ships: lowest held-out force error among the stable iterations '
            '(see `rules.best_iteration`), or the final refit when stable in its MD and better or within the '
            'targets (`rules.refit_ships`).',
        )
        spec.output('training_set', valid_type=TrainingSet, help='The labels the shipped potential was fitted on.')
        spec.output(
            'held_out_set', valid_type=TrainingSet, required=False, help='The labels never trained on (scoring).'
        )
        spec.output('summary', valid_type=orm.Dict, help='Per-iteration table and why the campaign stopped.')
        spec.output(
            'validation', valid_type=orm.Dict, required=False, help='Properties of the potential vs the labeller.'
        )
        spec.output_namespace(
            'iterations',
            valid_type=(AcePotential, TrainingSet, orm.Dict),
            dynamic=True,
            help='Per iteration (`iteration_01`, ..., `final_refit`): potential, training set, exploration report.',
        )
        spec.exit_code(310, 'ERROR_GENERATION_FAILED', message='structure generation failed: {message}')
        spec.exit_code(311, 'ERROR_SCREENING_FAILED', message='surrogate screening failed: {message}')
        spec.exit_code(312, 'ERROR_LABELLING_FAILED', message='labelling failed: {message}')
        spec.exit_code(313, 'ERROR_TRAINING_FAILED', message='training failed: {message}')
        spec.exit_code(314, 'ERROR_EXPLORATION_FAILED', message='exploration failed: {message}')
        spec.exit_code(
            315,
            'ERROR_INCONSISTENT_LABELS',
            message='labels too noisy for the energy target, nothing else was labelled: {reason}',
        )
        spec.exit_code(401, 'ERROR_BUDGET_EXHAUSTED', message='{reason}; the best potential is still output')
        spec.exit_code(402, 'ERROR_VALIDATION_FAILED', message='converged, but validation failed: {failed}')

    # -- setup and bookkeeping -------------------------------------------------------------------

    @property
    def config(self):
        """The validated campaign, rebuilt from the stored input once per loaded instance (about 60 ms)."""
        config = getattr(self, '_campaign_config', None)
        if config is None:
            config = self._campaign_config = campaign_from_dict(self.inputs.campaign.get_dict())
        return config

    def setup(self):
        """Initialise the counters the stop rules read."""
        self.ctx.start = time.time()
        self.ctx.iteration = 0
        self.ctx.dft_calculations = 0
        self.ctx.to_label = {}
        self.ctx.strata = {}
        self._queue(dict(self.inputs.get('initial_structures', {})))
        self.ctx.training_set = None
        self.ctx.held_out = None
        self.ctx.potential = None
        self.ctx.final_potential = None
        self.ctx.final_round = 0
        self.ctx.final_explored_round = None
        self.ctx.rows = []
        self.ctx.stop_reason = None
        self.ctx.converged = False
        self.report(
            f'campaign `{self.config.name}`: {", ".join(self.config.elements)}, labeller {self.config.labeller}'
        )

    def _queue(self, structures: dict, temperatures: dict | None = None):
        """Queue ``structures`` for labelling with their held-out stratum: kind, composition, temperature."""
        self.ctx.to_label = structures
        self.ctx.strata = {
            key: [structure_kind(key), composition_label(structure), str((temperatures or {}).get(key, 'static'))]
            for key, structure in structures.items()
        }

    def _queue_selected(self, selected: dict, runs: dict):
        """Queue an exploration's ``selected`` frames as the current iteration's (``itNN_<key>``), each in the
        stratum of its run's temperature (``runs``: the exploration report's)."""
        prefix = f'it{self.ctx.iteration:02d}_'
        self._queue(
            {prefix + key: structure for key, structure in selected.items()},
            {prefix + key: runs[key.rsplit('_step', 1)[0]]['temperature'] for key in selected},
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

    def should_check_labels(self):
        """Check the labels' consistency first when pw.x labels and the campaign asks for it (the default)."""
        return self.config.labeller == 'qe' and self.config.dft.check_labels

    def run_label_check(self):
        """Label each element's reference crystal in two cells at a few volumes (see ``labelling.consistency``)."""
        structures, skipped = stages.label_check_structures(self.config)
        if skipped:
            self.report(f'label check: ASE has no reference crystal of {", ".join(skipped)}; not checked')
        if not structures:
            return None
        node = submit_once(self, stages.labelling_builder(self.config, structures), 'label_check')
        self.ctx.dft_calculations += len(structures)
        self.report(f'label check: {len(structures)} small cells: {node.process_label}<{node.pk}>')
        return ToContext(label_check=node)

    def inspect_label_check(self):
        """Stop before anything else is labelled if the same crystal in two cells disagrees beyond the target."""
        if 'label_check' not in self.ctx:
            return None
        labels, _ = stages.labelling_result(self.ctx.label_check)
        if labels is None:
            message = self.ctx.label_check.exit_message or self.ctx.label_check.process_state
            return self.exit_codes.ERROR_LABELLING_FAILED.format(message=message)
        disagreement, reason = stages.label_check_result(self.config, labels)
        self.ctx.label_disagreement = disagreement
        self.node.base.extras.set('label_disagreement', disagreement)
        self.report(
            'label check, two cells of the same crystal differ by (meV/atom): '
            + ', '.join(f'{element} {value["mev_per_atom"]:.1f}' for element, value in disagreement.items())
        )
        if reason:
            return self.exit_codes.ERROR_INCONSISTENT_LABELS.format(reason=reason)
        return None

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
        self._queue(stages.generated_structures(node))
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
        self._queue(stages.screened_structures(node))
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
        """Hold out a stratified share of the new labels, merge the rest into the training set.

        Failed structures stay on the record (the labelling node's ``failures``).
        """
        node = self.ctx.labelling
        labels, failures = stages.labelling_result(node)
        if labels is None:
            return self.exit_codes.ERROR_LABELLING_FAILED.format(message=node.exit_message or node.process_state)
        if failures:
            self.report(f'{len(failures)} structures not labelled: ' + ', '.join(sorted(failures)))
        held = self.ctx.held_out.iter_atoms() if self.ctx.held_out is not None else []
        parameters = {
            'strata': self.ctx.strata,
            'fraction': self.config.targets.held_out_fraction,
            'kinds_held': sorted({structure_kind(atoms.info['config_type']) for atoms in held}),
            'seed': self.config.seed + self.ctx.iteration,
            'labels_before': sum(labelled.count for labelled in (self.ctx.training_set, self.ctx.held_out) if labelled),
            'held_before': self.ctx.held_out.count if self.ctx.held_out is not None else 0,
        }
        split = split_held_out_labels(
            labels=labels,
            parameters=orm.Dict(parameters),
            metadata={'call_link_label': f'split_{self.ctx.iteration:02d}'},
        )
        self.ctx.training_set = self._merged(self.ctx.training_set, split['train'], 'merge')
        self.ctx.held_out = self._merged(self.ctx.held_out, split['held_out'], 'merge_held_out')
        self.ctx.to_label = {}
        self._row(
            labels_added=split['train'].count,
            labels_held_out=split['held_out'].count,
            labels_failed=len(failures),
            training_set_size=self.ctx.training_set.count,
            held_out_size=self.ctx.held_out.count,
            dft_cpu_seconds=stages.labelling_cpu_seconds(node),
            core_saturation=stages.labelling_core_saturation(node),
        )
        self.report(
            f'{split["train"].count} labels for training, {split["held_out"].count} held out '
            f'(held-out set: {self.ctx.held_out.count})'
        )
        if self.ctx.training_set.count == 0:
            return self.exit_codes.ERROR_LABELLING_FAILED.format(message='no structure could be labelled')
        return None

    def _merged(self, previous, new, label: str):
        """Return ``previous`` merged with ``new`` through a calcfunction (``new`` when there is no previous)."""
        if previous is None:
            return new
        return merge_training_sets(
            previous=previous, new=new, metadata={'call_link_label': f'{label}_{self.ctx.iteration:02d}'}
        )

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

    def _score(self, potentials: dict, label: str) -> dict:
        """Return the held-out errors of ``potentials`` by key (empty without a held-out set)."""
        if self.ctx.held_out is None or self.ctx.held_out.count == 0:
            return {}
        scores = score_potentials(held_out=self.ctx.held_out, **potentials, metadata={'call_link_label': label})
        return scores.get_dict()

    def inspect_training(self):
        """Keep the new potential and score it on the held-out set."""
        node = self.ctx.training
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_TRAINING_FAILED.format(message=node.exit_message or node.process_state)
        self.ctx.potential, metrics = stages.trained_potential(node)
        namespace = f'iterations.iteration_{self.ctx.iteration:02d}'
        self.out(f'{namespace}.potential', self.ctx.potential)
        self.out(f'{namespace}.training_set', self.ctx.training_set)
        score = self._score({'potential': self.ctx.potential}, f'score_{self.ctx.iteration:02d}').get('potential', {})
        self._row(
            force_rmse_train=metrics.get('force_rmse_train'),
            **{column: score.get(key) for column, key in SCORE_COLUMNS.items()},
            potential_pk=self.ctx.potential.pk,
            training_set_pk=self.ctx.training_set.pk,
        )
        self.report(
            f'iteration {self.ctx.iteration}: held-out force RMSE {score.get("force_rmse", float("nan")):.1f} meV/A '
            f'(p95 {score.get("force_p95", float("nan")):.0f}, max {score.get("force_max", float("nan")):.0f}), '
            f'energy RMSE {score.get("energy_rmse", float("nan")):.1f} meV/atom on {score.get("frames", 0)} frames'
        )
        return None

    # -- exploration loop ------------------------------------------------------------------------

    def should_explore(self):
        """Explore again unless converged or a budget has run out."""
        if self.ctx.converged or self.ctx.stop_reason:
            return False
        reason = budget_verdict(
            self.ctx.iteration,
            self.ctx.dft_calculations,
            self._elapsed_hours(),
            self.config.budgets,
            idle_exploration_streak(self.ctx.rows),
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
            config.temperature.max * (1 + config.exploration.temperature_margin),
            config.exploration.temperature_points,
            self.ctx.iteration,
            ramp_iterations=config.exploration.ramp_iterations,
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
        """Record what the exploration reached, apply the stop rule and queue the selected frames."""
        node = self.ctx.exploration
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_EXPLORATION_FAILED.format(message=node.exit_message or node.process_state)
        report, selected = stages.exploration_result(node)
        self.out(f'iterations.iteration_{self.ctx.iteration:02d}.exploration_report', report)
        self._row(**{column: report.get(key) for column, key in EXPLORATION_COLUMNS.items()})
        config = self.config
        converged, reason, criteria = convergence_verdict(
            self.ctx.rows, config.targets, config.temperature.max, config.compositions()
        )
        self._row(criteria=criteria)
        self.report(f'iteration {self.ctx.iteration}: {reason}')
        if converged:
            self.ctx.converged = True
            self._row(state='converged')
            return None
        self._row(state='refit' if selected else 'explore')
        self.ctx.iteration += 1
        self._queue_selected(selected, report['runs'])
        if not selected:
            self.report('exploration selected no new structure')
        return None

    def should_refit(self):
        """Label and refit when the exploration selected something and the loop goes on."""
        return bool(self.ctx.to_label) and not self.ctx.converged

    # -- the potential that ships ----------------------------------------------------------------

    def should_refit_from_scratch(self):
        """A final fit from scratch on every label, when the campaign asks for one."""
        return self.config.fit.final_refit

    def _final_round_name(self, base: str) -> str:
        """Return ``base`` for the first final refit and ``base_NN`` for its later rounds (unique link labels)."""
        return base if self.ctx.final_round == 0 else f'{base}_{self.ctx.final_round:02d}'

    def run_final_refit(self):
        """Fit a new potential from scratch on every training label."""
        self.ctx.final_potential = None
        builder = stages.training_builder(self.config, self.ctx.training_set, final=True)
        refusal = stages.training_refusal(builder)
        if refusal:
            self.report(f'no final refit: {refusal}')
            return None
        node = submit_once(self, builder, self._final_round_name('training_final'))
        self.report(
            f'final refit from scratch on {self.ctx.training_set.count} structures, '
            f'{builder.pacemaker.parameters["maxiter"]} iterations: {node.process_label}<{node.pk}>'
        )
        return ToContext(final_training=node)

    def inspect_final_refit(self):
        """Keep the final refit's potential; a failed refit is reported and left out."""
        node = self.ctx.pop('final_training', None)
        if node is None:
            return
        if not node.is_finished_ok:
            self.report(f'final refit failed ({node.exit_status} {node.exit_message}); it is left out')
            return
        self.ctx.final_potential, _ = stages.trained_potential(node)
        self.out(f'iterations.{self._final_round_name(FINAL_REFIT)}.potential', self.ctx.final_potential)

    def _last_explored_row(self) -> dict | None:
        """Return the row of the last iteration that ran an exploration (None if none did)."""
        return next((row for row in reversed(self.ctx.rows) if row.get('temperatures')), None)

    def should_explore_refit(self):
        """Whether the final refit of this round gave a potential to run the last explored iteration's MD with."""
        return (
            self.ctx.final_potential is not None
            and self.ctx.final_explored_round != self.ctx.final_round
            and self._last_explored_row() is not None
        )

    def run_refit_exploration(self):
        """Run the last explored iteration's MD (same temperatures and seed) with the final refit's potential."""
        last = self._last_explored_row()
        builder = stages.exploration_builder(
            self.config,
            self.ctx.final_potential,
            self.ctx.training_set,
            last['temperatures'],
            last['iteration'],
            tag=self._final_round_name(FINAL_REFIT),
        )
        node = submit_once(self, builder, f'exploration_{self._final_round_name(FINAL_REFIT)}')
        self.report(
            f'exploring with the final refit at {last["temperatures"]} K (as iteration {last["iteration"]}): '
            f'{node.process_label}<{node.pk}>'
        )
        return ToContext(final_exploration=node)

    def inspect_refit_exploration(self):
        """Keep the final refit's exploration report; when a run halted and ``fit.final_rounds`` allows another
        round, queue the frames it selected for labelling (a new iteration row) and fit from scratch again."""
        node = self.ctx.final_exploration
        self.ctx.final_explored_round = self.ctx.final_round
        self.ctx.final_exploration_report = None
        if not node.is_finished_ok:
            self.report(f'exploration of the final refit failed ({node.exit_status} {node.exit_message})')
            return
        report, selected = stages.exploration_result(node)
        self.out(f'iterations.{self._final_round_name(FINAL_REFIT)}.exploration_report', report)
        self.ctx.final_exploration_report = report.get_dict()
        if explored_stably(self.ctx.final_exploration_report) or self.ctx.final_round >= self.config.fit.final_rounds:
            return
        allowed = labels_allowed(len(selected), self.ctx.dft_calculations, self.config.budgets)
        if not selected or not allowed:
            self.report(
                'the final refit halted; no frame to label for another round'
                if not selected
                else 'the final refit halted; the DFT budget allows no other round'
            )
            return
        self.ctx.final_round += 1
        self.ctx.iteration += 1
        self._row(state=f'final round {self.ctx.final_round}')
        self._queue_selected(selected, report['runs'])
        explored = self.ctx.final_exploration_report
        self.report(
            f'the final refit had {explored.get("runs_halted")} halted and {explored.get("runs_failed")} failed MD '
            f'runs: labelling {len(selected)} frames and fitting from scratch again (round {self.ctx.final_round} '
            f'of {self.config.fit.final_rounds})'
        )

    def should_label_for_refit(self):
        """Label and fit again when the final refit's exploration opened another final round (and queued its frames)."""
        return self.ctx.final_round > self.ctx.final_explored_round

    def choose_potential(self):
        """Score every potential on the final held-out set and choose the one to ship (``rules.best_iteration``)."""
        rows = [row for row in self.ctx.rows if row.get('potential_pk')]
        potentials = {f'iteration_{row["iteration"]:02d}': orm.load_node(row['potential_pk']) for row in rows}
        if self.ctx.final_potential is not None:
            potentials[FINAL_REFIT] = self.ctx.final_potential
        scores = self._score(potentials, 'score_final')
        self.ctx.final_scores = scores
        if not scores:
            self.ctx.shipped = (f'iteration_{rows[-1]["iteration"]:02d}', 'no held-out set: the last fit')
        else:
            forces = {
                int(key.split('_')[1]): value['force_rmse'] for key, value in scores.items() if key != FINAL_REFIT
            }
            iteration, reason = best_iteration(self.ctx.rows, forces)
            choice = f'iteration_{iteration:02d}'
            if FINAL_REFIT in scores:
                ships, why = refit_ships(
                    scores[FINAL_REFIT],
                    forces[iteration],
                    self.ctx.get('final_exploration_report'),
                    self.config.targets,
                )
                choice, reason = (FINAL_REFIT, f'{why}; instead of {reason}') if ships else (choice, f'{reason}; {why}')
            self.ctx.shipped = (choice, reason)
        self.report(f'ships {self.ctx.shipped[0]}: {self.ctx.shipped[1]}')

    def _shipped(self):
        """Return (potential, training set) that ship."""
        choice = self.ctx.shipped[0]
        if choice == FINAL_REFIT:
            return self.ctx.final_potential, self.ctx.training_set
        row = self.ctx.rows[int(choice.split('_')[1])]
        return orm.load_node(row['potential_pk']), orm.load_node(row['training_set_pk'])

    # -- validation and results ------------------------------------------------------------------

    def run_validation(self):
        """Compare the shipped potential with the labeller (``ValidationWorkChain``)."""
        potential, _ = self._shipped()
        node = submit_once(self, stages.validation_builder(self.config, potential), 'validation')
        self.report(f'validating {potential.__class__.__name__}<{potential.pk}>: {node.process_label}<{node.pk}>')
        return ToContext(validation=node)

    def inspect_validation(self):
        """Keep the validation report; remember which properties failed."""
        node = self.ctx.validation
        self.ctx.validation_failed = None
        report = stages.validation_report(node)
        if report is None:
            self.ctx.validation_failed = node.exit_message or f'validation did not finish ({node.process_state})'
            self.report(f'validation: {self.ctx.validation_failed}')
            return
        self.out('validation', report)
        failed = report.get('failed', [])
        if failed:
            self.ctx.validation_failed = node.exit_message or ', '.join(map(str, failed))
        self.report(f'validation: {"failed: " + self.ctx.validation_failed if failed else "every property passed"}')

    def results(self):
        """Output the shipped potential and the summary; a budget stop has its own exit status."""
        potential, training_set = self._shipped()
        self.out('potential', potential)
        self.out('training_set', training_set)
        if self.ctx.held_out is not None:
            self.out('held_out_set', self.ctx.held_out)
        choice, reason = self.ctx.shipped
        summary = {
            'iterations': self.ctx.rows,
            'shipped': choice,
            'shipped_reason': reason,
            'best_iteration': None if choice == FINAL_REFIT else int(choice.split('_')[1]),
            'final_scores': self.ctx.final_scores,
            'converged': self.ctx.converged,
            'stop_reason': self.ctx.stop_reason or 'converged',
            'dft_calculations': self.ctx.dft_calculations,
            'label_disagreement_mev_per_atom': {
                element: value['mev_per_atom'] for element, value in self.ctx.get('label_disagreement', {}).items()
            },
        }
        self.out('summary', summarise_campaign(orm.Dict(summary), metadata={'call_link_label': 'summary'}))
        self.report(f'shipped {choice}: {potential.__class__.__name__}<{potential.pk}>')
        if not self.ctx.converged:
            return self.exit_codes.ERROR_BUDGET_EXHAUSTED.format(reason=self.ctx.stop_reason)
        if self.ctx.validation_failed:
            return self.exit_codes.ERROR_VALIDATION_FAILED.format(failed=self.ctx.validation_failed)
        return None
