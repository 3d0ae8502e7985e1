"""``PacemakerParser``: the potential, the metrics and a distinct exit code for each failure."""

from __future__ import annotations

import logging

from aiida import orm
from aiida.parsers import Parser

from ..data import AcePotential
from . import pacemaker_io as io

LOGGER = logging.getLogger(__name__)


class PacemakerParser(Parser):
    """Parse a ``PacemakerCalculation``; never raises, every failure is an exit code.

    Checked in order: out of memory (330), a NaN loss (320), a TensorFlow error (331), killed by a
    signal (330 with memory evidence in ``status.json``, else 332), then, when
    pacemaker left no final potential, the time limit with an interim potential present (340,
    output ``interim_potential``) or a missing potential (310); with a potential, a failed YACE
    conversion (351) or active set (350; the potential is output without ``.asi``).
    """

    CACHE_VERSION = 3

    def _read(self, name: str, mode: str = 'r'):
        if name not in self._names:
            return None
        try:
            return self.retrieved.base.repository.get_object_content(name, mode=mode)
        except (OSError, UnicodeDecodeError) as exception:
            LOGGER.warning('could not read %s: %s', name, exception)
            return None

    def parse(self, **kwargs):
        """Read the status, the metric tables and the potential files."""
        self._names = set(self.retrieved.base.repository.list_object_names())
        status = io.read_status(self._read(io.STATUS_FILENAME))
        tables = {name: self._read(name) or '' for name in io.METRICS_FILES}
        metrics = io.summarise_metrics(tables)
        if status:
            metrics['step_exit_status'] = status.get('steps', {})
            metrics['step_seconds'] = status.get('seconds', {})
            # fit_structure_count, test_structure_count, dropped_structures, energy/force_weight_spread
            metrics.update(status.get('datasets', {}))
            if status.get('memory'):
                metrics['memory'] = status['memory']  # peak_rss_kb, limit_kb, oom_kills
        stderr = self._read(io.PACEMAKER_STDERR) or ''
        log = self._read(io.LOG_FILENAME) or ''

        final_yaml = self._read(io.OUTPUT_YAML)
        if final_yaml is None or io.has_nan_loss(metrics):
            return self._failed_fit(status, stderr, log, metrics)

        yace = self._read(io.OUTPUT_YACE, 'rb')
        if yace is None:
            self.out('metrics', orm.Dict(_finite(metrics)))
            code = (status or {}).get('steps', {}).get('pace_yaml2yace')
            detail = f'no {io.OUTPUT_YACE} (exit status {code}); its log ends: {_tail(self._read(io.YACE_LOG))}'
            return self.exit_codes.ERROR_YACE_CONVERSION.format(detail=detail)
        asi = self._read(io.OUTPUT_ASI, 'rb')
        try:
            potential = AcePotential()
            potential.set_files(final_yaml, yace, asi)
        except (ValueError, KeyError, TypeError) as exception:
            detail = f'unreadable output_potential.yaml: {exception}'
            return self.exit_codes.ERROR_MISSING_POTENTIAL.format(detail=detail)
        metrics['reference_energies'] = potential.reference_energies
        self.out('potential', potential)
        self.out('metrics', orm.Dict(_finite(metrics)))
        if asi is None:
            code = (status or {}).get('steps', {}).get('pace_activeset')
            detail = f'no {io.OUTPUT_ASI} (exit status {code}); its log ends: {_tail(self._read(io.ACTIVESET_LOG))}'
            return self.exit_codes.ERROR_ACTIVE_SET_FAILED.format(detail=detail)
        return None

    def _failed_fit(self, status, stderr, log, metrics):
        label, detail = io.diagnose(status, stderr, log, metrics)
        if label == 'ERROR_TIME_LIMIT':
            interim = self._read(io.INTERIM_YAML)
            if interim is None:
                label, detail = 'ERROR_MISSING_POTENTIAL', f'{detail}, and no interim potential was written'
            else:
                try:
                    potential = AcePotential()
                    potential.set_files(interim)
                    self.out('interim_potential', potential)
                except (ValueError, KeyError, TypeError) as exception:
                    detail = f'{detail}; the interim potential is unreadable: {exception}'
                    label = 'ERROR_MISSING_POTENTIAL'
        if metrics.get('iterations'):
            self.out('metrics', orm.Dict(_finite(metrics)))
        return getattr(self.exit_codes, label).format(detail=detail)


def _tail(text: str | None, lines: int = 1) -> str:
    """Return the last non-empty ``lines`` of ``text`` (one line), or ''."""
    if not text:
        return ''
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return ' | '.join(kept[-lines:])[:300]


def _finite(metrics: dict) -> dict:
    """Return ``metrics`` with NaN/inf floats as None (JSON has no NaN)."""
    import math

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    return clean(metrics)
