"""``DftLabellingWorkChain``: label many structures with pw.x, tolerating some failures."""

from __future__ import annotations

import os

from aiida import orm
from aiida.engine import ProcessState, ToContext, WorkChain, while_

from ..common.engine import submit_once
from ..common.geometry import too_close_reason
from ..common.mappings import deep_merge
from ..common.timing import MACHINE_CORES_EXTRA, labelling_saturation
from ..data import TrainingSet
from ..pseudos import DEFAULT_FAMILY_LABEL, check_family_covers, load_family
from .functions import check_relax_keys, generate_training_set, record_failures, record_relaxations
from .protocol import PROTOCOLS, SPIN_CHOICES, get_pw_builder, protocol_kpoints_distance, relative_cost

#: ``PwCalculation`` exit codes of a relaxation that ended cleanly with SCF-converged energy and forces
#: at its last positions, but without reaching the ionic convergence thresholds.
IONIC_NOT_CONVERGED = (
    'ERROR_IONIC_CONVERGENCE_NOT_REACHED',
    'ERROR_IONIC_CYCLE_EXCEEDED_NSTEP',
    'ERROR_IONIC_CYCLE_BFGS_HISTORY_FAILURE',
)
#: Context namespace of the awaitables of the running ``PwBaseWorkChain`` runs, by structure key.
WINDOW = 'window'
#: Extra of the work chain node with how busy pw.x kept its cores (``common.timing.labelling_saturation``).
TIMING_EXTRA = 'core_saturation'
#: aiida-core's exit status of a process that finished without one of its required outputs (``ERROR_MISSING_OUTPUT``).
MISSING_OUTPUT = 11


def validate_inputs(inputs, _):
    """Refuse, before anything runs, inputs the labelling cannot use; name the field and what is allowed."""
    structures = inputs.get('structures', {})
    if not structures:
        return '`structures`: give at least one structure to label'
    protocol = inputs['protocol'].value
    if protocol not in PROTOCOLS:
        return f'`protocol`: unknown protocol `{protocol}`; allowed: {", ".join(PROTOCOLS)}'
    fraction = inputs['min_success_fraction'].value
    if not 0.0 <= fraction <= 1.0:
        return f'`min_success_fraction`: {fraction} is outside the allowed range [0, 1]'
    if inputs['max_concurrent'].value < 1:
        return f'`max_concurrent`: {inputs["max_concurrent"].value} is not allowed; give 1 or more'
    plugin = inputs['code'].default_calc_job_plugin
    if plugin != 'quantumespresso.pw':
        return f'`code`: code `{inputs["code"].full_label}` runs `{plugin}`, not `quantumespresso.pw`'
    spin = inputs['overrides'].get('spin', 'auto') if 'overrides' in inputs else 'auto'
    if spin not in SPIN_CHOICES:
        return f'`overrides.spin`: unknown value `{spin}`; allowed: {", ".join(SPIN_CHOICES)}'
    empty_bands = inputs['overrides'].get('empty_bands_per_atom', 0) if 'overrides' in inputs else 0
    if isinstance(empty_bands, bool) or not isinstance(empty_bands, int) or empty_bands < 0:
        return f'`overrides.empty_bands_per_atom`: {empty_bands!r} is not allowed; give a whole number, 0 or more'
    message = check_relax_keys(inputs, structures)
    if message:
        return message
    if 'structure_overrides' in inputs:
        unknown = sorted(set(inputs['structure_overrides'].keys()) - set(structures))
        if unknown:
            return f'`structure_overrides`: no structure named {", ".join(unknown)}'
    try:
        family = load_family(inputs['pseudo_family'].value)
        elements = {kind.symbol for structure in structures.values() for kind in structure.kinds}
        check_family_covers(family, elements)
    except ValueError as exception:
        return f'`pseudo_family`: {exception}'
    return None


#: A structure whose cost exceeds the fair share of one place in what is left of its batch by this factor takes the
#: whole window (:func:`window_places`); below it, two runs side by side end close enough together.
DOMINANT_SHARE = 1.1


def window_places(costs: list[float], places: int, widest: int) -> list[int]:
    """Return the places of the window each queued structure takes, given their costs in queue order (costliest first).

    A structure that costs more than :data:`DOMINANT_SHARE` x the fair share of one place in what is left (its own
    cost and that of every structure after it, over ``places``) would still run, on one place, when the others had
    ended: it takes the whole window instead. Of the rest, those that do not fill a whole window (their count modulo
    ``places``, or all of a batch smaller than the window) go first and share all ``places``; the others take one
    place each, so the window ends on full rounds instead of on one run beside idle places. No structure takes more
    than ``widest`` places. The plan depends on the batch alone, not on when runs end, so a run's MPI processes (and
    so its label, to the last digit) are the same in every run of the same campaign, interrupted or not.
    """
    plan = []
    left = sum(costs)
    for cost in costs:
        if cost <= DOMINANT_SHARE * left / places:
            break
        plan.append(min(places, widest))
        left -= cost
    count = len(costs) - len(plan)
    leftover = count % places
    shares = [places // leftover + (index < places % leftover) for index in range(leftover)] if leftover else []
    return plan + [min(share, widest) for share in shares] + [1] * (count - leftover)


def widened_resources(processes: int) -> dict:
    """Return the ``metadata.options`` of a pw.x run on ``processes`` MPI processes of one machine."""
    return {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': processes}}


class DftLabellingWorkChain(WorkChain):
    """Label structures with ``PwBaseWorkChain`` runs and collect the results in one ``TrainingSet``.

    ``max_concurrent`` runs go at a time, in a rolling window: as soon as any run ends, the next
    structure is submitted (see :meth:`fill_window`). A structure that outweighs the rest of the batch,
    and the structures that do not fill a whole round of the window, go first and share its places as
    MPI processes (k-point pools; :func:`window_places`),
    so that a batch smaller than the window, or one that does not divide evenly into it, keeps every
    core busy (on the local machine, never more processes than its cores). At the end the work chain's extra
    ``core_saturation`` records how busy pw.x kept the cores (``core_saturation``, ``cores``,
    ``pw_cpu_seconds``, ``wall_seconds``, ``runs``). Structures with atoms closer than
    ``min_distance`` are refused before DFT. A structure whose run fails is recorded in the
    ``failures`` output with its exit status and message; the work chain fails only when fewer than
    ``min_success_fraction`` of the structures were labelled, and outputs what was labelled anyway.

    The structures named in ``relax`` run as pw.x ``calculation: relax`` (atomic positions, cell
    fixed); their label is the final relaxed structure with its energy, forces and stress, and
    ``relaxations`` records per key whether the relaxation converged. A relaxation that still misses
    the ionic thresholds after ``PwBaseWorkChain``'s restarts, but whose last step is SCF-converged,
    is labelled at its last positions and recorded as not converged.

    Each ``PwBaseWorkChain`` is built for its own structure from the protocol
    (:func:`~.protocol.get_pw_builder`: pseudopotentials of its elements, the family's cutoffs, its
    k-point mesh, k-point pools), so its ports are not exposed here: ``overrides`` are
    aiida-quantumespresso's ``get_builder_from_protocol`` overrides (``pw.parameters``,
    ``pw.settings``, ``pw.parallelization``, ``kpoints_distance``, ...) for every structure,
    ``structure_overrides`` those of one structure, and ``options`` the ``metadata.options`` of the
    ``PwCalculation`` jobs.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace('structures', valid_type=orm.StructureData, dynamic=True, help='Structures to label.')
        spec.input('code', valid_type=orm.AbstractCode, help='A `quantumespresso.pw` code.')
        spec.input(
            'pseudo_family',
            valid_type=orm.Str,
            default=lambda: orm.Str(DEFAULT_FAMILY_LABEL),
            help='Label of an aiida-pseudo family with recommended cutoffs.',
        )
        spec.input(
            'protocol',
            valid_type=orm.Str,
            default=lambda: orm.Str('balanced'),
            help=f'One of {", ".join(PROTOCOLS)}: k-points, convergence and cutoff stringency.',
        )
        spec.input(
            'overrides',
            valid_type=orm.Dict,
            required=False,
            help='Overrides of the `PwBaseWorkChain` protocol inputs for every structure, plus `spin`.',
        )
        spec.input(
            'structure_overrides',
            valid_type=orm.Dict,
            required=False,
            help='Overrides for single structures, by structure key, applied on top of `overrides`.',
        )
        spec.input('options', valid_type=orm.Dict, required=False, help='`metadata.options` of the pw.x jobs.')
        spec.input('max_concurrent', valid_type=orm.Int, default=lambda: orm.Int(2), help='Runs at a time.')
        spec.input(
            'min_success_fraction',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.8),
            help='Fraction of structures that must be labelled for the work chain to succeed.',
        )
        spec.input(
            'min_distance',
            valid_type=orm.Float,
            default=lambda: orm.Float(1.0),
            help='Structures with two atoms closer than this (A) are refused before DFT.',
        )
        spec.input(
            'relax',
            valid_type=orm.List,
            required=False,
            help='Keys of the structures whose atomic positions pw.x relaxes (cell fixed) before they are labelled.',
        )
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            cls.refuse_close_atoms,
            cls.plan_window,
            while_(cls.has_work)(cls.fill_window, cls.inspect_finished),
            cls.collect,
        )
        spec.output('training_set', valid_type=TrainingSet, help='Every successful label.')
        spec.output('failures', valid_type=orm.Dict, help='Refused or failed structures with status and reason.')
        spec.output(
            'relaxations',
            valid_type=orm.Dict,
            required=False,
            help='Per relaxed key: converged, ionic steps, largest final force (eV/A), the PwBaseWorkChain uuid.',
        )
        spec.exit_code(
            400,
            'ERROR_TOO_FEW_LABELLED',
            message='only {labelled} of {total} structures were labelled, below the minimum fraction {fraction}',
        )

    def setup(self):
        """Queue every structure, the costliest first (:func:`~.protocol.relative_cost`), so that the window
        does not end on one long run beside idle cores; load the pseudo family once."""
        self.ctx.relax = set(self.inputs.relax.get_list()) if 'relax' in self.inputs else set()
        overrides = self.inputs.overrides.get_dict() if 'overrides' in self.inputs else {}
        per_structure = self.inputs.structure_overrides.get_dict() if 'structure_overrides' in self.inputs else {}
        costs = {
            key: relative_cost(
                structure.get_ase(),
                protocol_kpoints_distance(
                    self.inputs.protocol.value, deep_merge(overrides, per_structure.get(key, {}))
                ),
                relax=key in self.ctx.relax,
            )
            for key, structure in self.inputs.structures.items()
        }
        self.ctx.pending = sorted(costs, key=lambda key: (-costs[key], key))
        self.ctx.costs = costs
        self.ctx.running = {}
        self.ctx.labelled = {}
        self.ctx.failures = {}
        self.ctx.relaxations = {}
        self.ctx.family = load_family(self.inputs.pseudo_family.value)

    def refuse_close_atoms(self):
        """Refuse structures with atoms too close for DFT; they are recorded as failures."""
        for key in list(self.ctx.pending):
            reason = too_close_reason(self.inputs.structures[key].get_ase(), self.inputs.min_distance.value)
            if reason:
                self.ctx.pending.remove(key)
                self.ctx.failures[key] = {'stage': 'refused', 'exit_status': None, 'message': reason}
                self.report(f'refused `{key}` before DFT: {reason}')

    def plan_window(self):
        """Fix the places of the window each structure takes (:func:`window_places`); on the local machine a run
        never gets more MPI processes than its cores (mpirun refuses more ranks than cores), and the machine's
        cores are recorded (a window wider than them shares them; the core saturation counts them)."""
        options = self.inputs.options.get_dict() if 'options' in self.inputs else None
        self.ctx.processes = self._processes_per_run(options)
        places = self.inputs.max_concurrent.value
        widest = places
        if self.inputs.code.computer.transport_type == 'core.local':
            cores = os.cpu_count() or 1
            widest = max(1, cores // self.ctx.processes)
            self.node.base.extras.set(MACHINE_CORES_EXTRA, cores)
        costs = [self.ctx.costs[key] for key in self.ctx.pending]
        self.ctx.places = dict(zip(self.ctx.pending, window_places(costs, places, widest)))

    def has_work(self):
        """Return whether structures are still waiting for a run or running."""
        return bool(self.ctx.pending or self.ctx.running)

    def fill_window(self):
        """Submit structures until ``max_concurrent`` runs go, then wait until any one of them ends.

        Every run is submitted through :func:`~aiida_mlip_autopipe.common.engine.submit_once` under
        ``label_<key>``: a replay of this step after a crash takes the runs it had submitted. The wait
        is for all running children as awaitables, but :meth:`_on_awaitable_finished` resumes the work
        chain at the first of them to end; the next step sorts out whichever have ended by then.
        """
        overrides = self.inputs.overrides.get_dict() if 'overrides' in self.inputs else {}
        per_structure = self.inputs.structure_overrides.get_dict() if 'structure_overrides' in self.inputs else {}
        options = self.inputs.options.get_dict() if 'options' in self.inputs else None
        while self.ctx.pending and self.ctx.places[self.ctx.pending[0]] <= self._places_free():
            key = self.ctx.pending.pop(0)
            width = self.ctx.places[key]
            structure = self.inputs.structures[key]
            run_options = options
            if width > 1:
                run_options = deep_merge(options or {}, widened_resources(self.ctx.processes * width))
            builder = get_pw_builder(
                self.inputs.code,
                structure,
                self.ctx.family,
                protocol=self.inputs.protocol.value,
                overrides=deep_merge(overrides, per_structure.get(key, {})),
                options=run_options,
                relax=key in self.ctx.relax,
            )
            node = submit_once(self, builder, f'label_{key}')
            node.base.extras.set_many({'structure_key': key, 'window_places': width})
            self.ctx.running[key] = node.pk
            what = 'relaxation' if key in self.ctx.relax else 'label'
            spread = f', {width} places of the window' if width > 1 else ''
            self.report(
                f'submitted {node.process_label}<{node.pk}> for the {what} of `{key}` ({len(structure.sites)} atoms'
                f'{spread})'
            )
        running = {key: orm.load_node(pk) for key, pk in self.ctx.running.items()}
        if any(node.is_terminated for node in running.values()):
            return None  # one ended already (e.g. taken after a restart): sort it out before waiting
        return ToContext(**{f'{WINDOW}.{key}': node for key, node in running.items()})

    def _places_free(self) -> int:
        """Return the places of the window the running structures leave free (their planned places)."""
        return self.inputs.max_concurrent.value - sum(self.ctx.places[key] for key in self.ctx.running)

    def _processes_per_run(self, options: dict | None) -> int:
        """Return the MPI processes of one run: ``options``' resources, else the computer's default, else 1."""
        processes = (options or {}).get('resources', {}).get('num_mpiprocs_per_machine')
        return int(processes or self.inputs.code.computer.get_default_mpiprocs_per_machine() or 1)

    def _on_awaitable_finished(self, awaitable) -> None:
        """Resume at the first running child to end, not after all of them (aiida-core's ``WorkChain`` waits for all).

        The other children keep running; :meth:`fill_window` awaits them again with fresh awaitables, so a
        callback for an awaitable of an earlier step is ignored (its child is awaited by the current one).
        Such stale callbacks, at most one per step while a child runs, are dropped by the runner when their
        child ends. After a restart from a checkpoint the awaitables saved with it are registered again.
        """
        if not any(awaitable is current for current in self._awaitables):
            return
        super()._on_awaitable_finished(awaitable)
        if self._awaitables and self.state == ProcessState.WAITING:
            self._awaitables.clear()
            self._update_process_status()
            self.resume()

    def inspect_finished(self):
        """Sort the runs that have ended into labelled and failed; the others stay in the window."""
        self.ctx.pop(WINDOW, None)
        for key, pk in sorted(self.ctx.running.items()):
            node = orm.load_node(pk)
            if not node.is_terminated:
                continue
            del self.ctx.running[key]
            outputs = _label_outputs(node, relaxed=key in self.ctx.relax)
            if outputs is not None:
                if replayed_with_outputs(node, relaxed=key in self.ctx.relax):
                    self.report(
                        f'{node.process_label}<{node.pk}> of `{key}` finished with exit status {MISSING_OUTPUT} after '
                        'a restart replayed its last step, with its outputs linked: taking them'
                    )
                self.ctx.labelled[key] = outputs
                energy = outputs['parameters']['energy']
                if key in self.ctx.relax:
                    self.ctx.relaxations[key] = _relaxation_record(node, outputs)
                    record = self.ctx.relaxations[key]
                    self.report(
                        f'relaxed `{key}` in {record["steps"]} ionic steps: energy {energy:.4f} eV, largest force '
                        f'{record["max_force"]:.4f} eV/A{"" if record["converged"] else " (not converged)"}'
                    )
                else:
                    self.report(f'labelled `{key}`: energy {energy:.4f} eV')
            else:
                message = node.exit_message or f'process {node.process_state.value}'
                self.ctx.failures[key] = {
                    'stage': 'dft',
                    'exit_status': node.exit_status,
                    'message': message,
                    'process_uuid': node.uuid,
                }
                self.report(
                    f'`{key}` failed: {node.process_label}<{node.pk}> exit status {node.exit_status}: {message}'
                )

    def collect(self):
        """Output the training set and the failure record; check the success fraction."""
        labels = {}
        for key, outputs in sorted(self.ctx.labelled.items()):
            for name, node in outputs.items():
                labels[f'{key}_{name}'] = node
        training_set = generate_training_set(**labels, metadata={'call_link_label': 'generate_training_set'})
        self.out('training_set', training_set)
        self.out('failures', record_failures(orm.Dict(self.ctx.failures), metadata={'call_link_label': 'failures'}))
        if self.ctx.relax:
            relaxations = orm.Dict(self.ctx.relaxations)
            self.out('relaxations', record_relaxations(relaxations, metadata={'call_link_label': 'relaxations'}))

        total = len(self.inputs.structures)
        labelled = len(self.ctx.labelled)
        self.report(f'labelled {labelled} of {total} structures; TrainingSet<{training_set.pk}>')
        timing = labelling_saturation(self.node)
        if timing is not None:
            self.node.base.extras.set(TIMING_EXTRA, timing)
            if timing['core_saturation'] is not None:
                self.report(
                    f'pw.x kept {timing["cores"]} cores {100 * timing["core_saturation"]:.0f} % busy: '
                    f'{timing["pw_cpu_seconds"]:.0f} CPU s in {timing["wall_seconds"]:.0f} s ({timing["runs"]} runs)'
                )
        fraction = self.inputs.min_success_fraction.value
        if labelled < fraction * total:
            return self.exit_codes.ERROR_TOO_FEW_LABELLED.format(labelled=labelled, total=total, fraction=fraction)
        return None


def _pw_calculations(node) -> list:
    """Return the ``PwCalculation`` children of a ``PwBaseWorkChain``, oldest first."""
    return sorted(
        (child for child in node.called if child.process_type == 'aiida.calculations:quantumespresso.pw'),
        key=lambda child: child.ctime,
    )


def _label_outputs(node, relaxed: bool) -> dict | None:
    """Return the nodes a label is made of (``structure``, ``parameters``, ``trajectory``), or ``None``.

    A successful run gives its outputs; the structure is the input one for an SCF and the final
    relaxed one for a relaxation. A relaxation that failed because it missed the ionic thresholds
    (its last ``PwCalculation`` ended with one of :data:`IONIC_NOT_CONVERGED`) gives that
    calculation's outputs; the label then takes the positions of its last step (see
    :func:`~.functions.atoms_from_pw_outputs`).
    """
    from aiida.plugins import CalculationFactory

    if node.is_finished_ok or replayed_with_outputs(node, relaxed):
        outputs = node.outputs
        structure = outputs.output_structure if relaxed else node.inputs.pw.structure
        return {
            'structure': structure,
            'parameters': outputs.output_parameters,
            'trajectory': outputs.output_trajectory,
        }
    calculations = _pw_calculations(node) if relaxed else []
    if not calculations:
        return None
    last = calculations[-1]
    codes = CalculationFactory('quantumespresso.pw').exit_codes
    if last.exit_status not in {codes[name].status for name in IONIC_NOT_CONVERGED}:
        return None
    if not all(name in last.outputs for name in ('output_parameters', 'output_trajectory')):
        return None
    if 'energy' not in last.outputs.output_parameters.get_dict():
        return None
    if not {'forces', 'positions', 'cells'} <= set(last.outputs.output_trajectory.get_arraynames()):
        return None
    return {
        'structure': last.inputs.structure,
        'parameters': last.outputs.output_parameters,
        'trajectory': last.outputs.output_trajectory,
    }


def replayed_with_outputs(node, relaxed: bool) -> bool:
    """Return whether ``node`` failed only because a crash replayed its last step, with its outputs on the graph.

    aiida-core's ``BaseRestartWorkChain`` (``PwBaseWorkChain``), killed after it linked its outputs but before
    its next checkpoint, replays its ``results`` step, skips the outputs it finds linked and then misses them:
    it finishes with ``ERROR_MISSING_OUTPUT`` (:data:`MISSING_OUTPUT`) although the label is complete.
    """
    names = ('output_parameters', 'output_trajectory', *(('output_structure',) if relaxed else ()))
    return node.exit_status == MISSING_OUTPUT and all(name in node.outputs for name in names)


def _relaxation_record(node, outputs: dict) -> dict:
    """Return the record of one pw.x relaxation: converged, ionic steps over all runs, largest final force."""
    import numpy as np

    steps = sum(
        len(calculation.outputs.output_trajectory.get_stepids())
        for calculation in _pw_calculations(node)
        if 'output_trajectory' in calculation.outputs
    )
    forces = outputs['trajectory'].get_array('forces')[-1]
    return {
        'converged': bool(node.is_finished_ok or replayed_with_outputs(node, relaxed=True)),
        'steps': int(steps),
        'max_force': float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0,
        'runs': len(_pw_calculations(node)),
        'process_uuid': node.uuid,
    }
