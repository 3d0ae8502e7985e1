"""``PacemakerWorkChain``: a pacemaker fit that restarts after recoverable failures."""

from __future__ import annotations

import pathlib

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin

from ..data import AcePotential, TrainingSet
from .calculation import PacemakerCalculation, training_set_error

#: optimizer tried next after a NaN loss; the last one has no successor
NEXT_OPTIMIZER = {'BFGS': 'L-BFGS-B', 'L-BFGS-B': 'CG'}
#: factor on the L2 regularisation after a NaN loss (keeps the coefficients, and the steps, small)
NAN_L2_FACTOR = 10.0


def validate_inputs(inputs, _):
    """Refuse a training set pacemaker cannot fit (see ``training_set_error``), before submission."""
    training_set = inputs.get('training_set')
    if training_set is None:
        return None
    pacemaker = inputs.get('pacemaker', {})
    parameters = pacemaker['parameters'].get_dict() if 'parameters' in pacemaker else {}
    return training_set_error(training_set, parameters, inputs.get('previous_potential'))


def fit_summary(metrics: dict) -> str:
    """Return one report line of a fit's ``metrics``: test errors (train errors without a test split)."""
    prefix = 'test' if 'test_force_rmse_mev_per_angstrom' in metrics else 'train'
    line = '{} RMSE: energy {:.2f} meV/atom, forces {:.1f} meV/A'.format(
        prefix,
        metrics.get(f'{prefix}_energy_rmse_mev_per_atom') or float('nan'),
        metrics.get(f'{prefix}_force_rmse_mev_per_angstrom') or float('nan'),
    )
    if prefix == 'train':
        line += ' (no test split)'
    dropped = metrics.get('dropped_structures')
    if dropped:
        line += f'; pacemaker left out {len(dropped)} structure(s): {dropped[:10]}{" ..." if len(dropped) > 10 else ""}'
    return line


class PacemakerWorkChain(ProtocolMixin, BaseRestartWorkChain):
    """Fit an ACE potential with ``PacemakerCalculation``, handling recoverable failures.

    - time limit (340): continue from the interim potential for the iterations left;
    - NaN loss (320): restart with the next optimizer (BFGS -> L-BFGS-B -> CG) and a 10x larger
      L2 regularisation; fail after CG;
    - out of memory (330): restart with half the TensorFlow batch size; fail at batch size 1.

    Other failures, among them pacemaker killed by a signal without memory evidence (332), are
    retried once with the same inputs (``on_unhandled_failure`` defaults to ``restart_once`` here;
    aiida-core's own default aborts); a second one in a row fails the work chain.
    """

    _process_class = PacemakerCalculation

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.inputs['on_unhandled_failure'].default = lambda: orm.Str('restart_once')
        spec.expose_inputs(PacemakerCalculation, namespace='pacemaker', exclude=('training_set', 'previous_potential'))
        spec.input('training_set', valid_type=TrainingSet, help='Labelled configurations to fit.')
        spec.input(
            'previous_potential',
            valid_type=AcePotential,
            required=False,
            help='A potential to continue from (e.g. the previous active-learning iteration).',
        )
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(cls.run_process, cls.inspect_process),
            cls.results,
        )
        spec.expose_outputs(PacemakerCalculation, exclude=('interim_potential',))
        spec.outputs['potential'].required = True
        spec.outputs['metrics'].required = True
        spec.exit_code(310, 'ERROR_NAN_LOSS_PERSISTS', message='the loss became NaN with every optimizer tried')
        spec.exit_code(311, 'ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE', message='out of memory even at batch size 1')

    @classmethod
    def get_protocol_filepath(cls) -> pathlib.Path:
        """Return the YAML file with the protocols ``fast``, ``balanced`` and ``stringent``."""
        return pathlib.Path(__file__).parent / 'protocols' / 'pacemaker.yaml'

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        training_set: TrainingSet,
        protocol: str | None = None,
        overrides: dict | None = None,
        previous_potential: AcePotential | None = None,
        reference_energies: dict[str, float] | None = None,
        options: dict | None = None,
    ):
        """Return a builder for a fit of ``training_set`` with the protocol's fit size.

        ``overrides`` follow the input nesting (e.g. ``{'pacemaker': {'parameters': {'maxiter': 20}}}``);
        ``options`` update ``pacemaker.metadata.options`` (resources, wall time).
        """
        if protocol is not None and protocol not in cls.get_available_protocols():
            allowed = ', '.join(cls.get_available_protocols())
            raise ValueError(f'`protocol`: unknown protocol `{protocol}`; allowed: {allowed}')
        inputs = cls.get_protocol_inputs(protocol, overrides)
        metadata = inputs['pacemaker'].get('metadata', {})
        if options:
            metadata.setdefault('options', {}).update(options)
        builder = cls.get_builder()
        builder.training_set = training_set
        builder.pacemaker.code = code
        builder.pacemaker.parameters = orm.Dict(inputs['pacemaker']['parameters'])
        builder.pacemaker.metadata = metadata
        if previous_potential is not None:
            builder.previous_potential = previous_potential
        if reference_energies is not None:
            builder.pacemaker.reference_energies = orm.Dict(reference_energies)
        builder.max_iterations = orm.Int(inputs['max_iterations'])
        builder.clean_workdir = orm.Bool(inputs['clean_workdir'])
        return builder

    def setup(self):
        """Collect the calculation inputs in the context."""
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(PacemakerCalculation, 'pacemaker'))
        self.ctx.inputs.training_set = self.inputs.training_set
        if 'previous_potential' in self.inputs:
            self.ctx.inputs.previous_potential = self.inputs.previous_potential
        count = self.inputs.training_set.count
        self.report(f'fitting {count} configurations of {", ".join(self.inputs.training_set.elements)}')

    def _parameters(self) -> dict:
        return self.ctx.inputs.parameters.get_dict()

    def _restart(self, parameters: dict, message: str) -> ProcessHandlerReport:
        """Run the next fit with ``parameters``, reporting why."""
        self.ctx.inputs.parameters = orm.Dict(parameters)
        self.report(message)
        return ProcessHandlerReport(True)

    @process_handler(priority=600, exit_codes=PacemakerCalculation.exit_codes.ERROR_TIME_LIMIT)
    def handle_time_limit(self, calculation):
        """Continue from the interim potential for the iterations still to do."""
        done = calculation.outputs.metrics.get('iterations', 0) if 'metrics' in calculation.outputs else 0
        parameters = self._parameters()
        maxiter = parameters.get('maxiter', 100)
        parameters['maxiter'] = max(maxiter - done, 1)
        self.ctx.inputs.previous_potential = calculation.outputs.interim_potential
        return self._restart(
            parameters,
            f'{calculation.process_label}<{calculation.pk}> hit the time limit after {done} iterations: '
            f'continuing from its interim potential for {parameters["maxiter"]} more',
        )

    @process_handler(priority=500, exit_codes=PacemakerCalculation.exit_codes.ERROR_NAN_LOSS)
    def handle_nan_loss(self, calculation):
        """Restart with the next optimizer and a stronger L2 regularisation; give up after the last optimizer."""
        parameters = self._parameters()
        optimizer = parameters.get('optimizer', 'BFGS')
        if optimizer not in NEXT_OPTIMIZER:
            self.report(f'{calculation.process_label}<{calculation.pk}>: NaN loss with {optimizer}, no optimizer left')
            return ProcessHandlerReport(True, self.exit_codes.ERROR_NAN_LOSS_PERSISTS)
        parameters['optimizer'] = NEXT_OPTIMIZER[optimizer]
        parameters['l2_coefficient'] = parameters.get('l2_coefficient', 1e-8) * NAN_L2_FACTOR
        return self._restart(
            parameters,
            f'{calculation.process_label}<{calculation.pk}>: NaN loss with {optimizer}; restarting with '
            f'{parameters["optimizer"]} and L2 {parameters["l2_coefficient"]:.1e}',
        )

    @process_handler(priority=400, exit_codes=PacemakerCalculation.exit_codes.ERROR_OUT_OF_MEMORY)
    def handle_out_of_memory(self, calculation):
        """Restart with half the TensorFlow batch size."""
        parameters = self._parameters()
        batch_size = parameters.get('batch_size', 100)
        if batch_size <= 1:
            return ProcessHandlerReport(True, self.exit_codes.ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE)
        parameters['batch_size'] = max(batch_size // 2, 1)
        return self._restart(
            parameters,
            f'{calculation.process_label}<{calculation.pk}> ran out of memory: batch size {batch_size} -> '
            f'{parameters["batch_size"]}',
        )

    def _attach_outputs(self, node):
        """Attach the outputs of ``node``, those linked already included.

        aiida-core's version skips an output it finds linked. A step replayed after a crash that came
        between linking the outputs and the next checkpoint then leaves them out of the process's
        outputs, and the work chain finishes with ``ERROR_MISSING_OUTPUT`` (11) although they are on
        the graph. ``out`` links each output once (``Process.update_outputs`` skips linked ones).
        """
        outputs = self.get_outputs(node)
        for name, port in self.spec().outputs.items():
            if name in outputs:
                self.out(name, outputs[name])
            elif port.required:
                self.report(f'required output `{name}` was not an output of {node.process_label}<{node.pk}>')
        return outputs

    def results(self):
        """Attach the potential and metrics and report the test errors."""
        result = super().results()
        node = self.ctx.children[self.ctx.iteration - 1]
        if 'metrics' in node.outputs:
            metrics = node.outputs.metrics.get_dict()
            self.report(fit_summary(metrics))
        return result
