"""What the plugin's Python jobs share (the surrogate, ``PythonTaskCalculation``): one command on the code,
and a parser of the JSON file of results it writes, with a ``status``."""

from __future__ import annotations

import json

from aiida.common import datastructures
from aiida.engine import ExitCode
from aiida.parsers import Parser


def json_job_calcinfo(
    calculation, cmdline_params: list[str], results_name: str, local_copy_list
) -> datastructures.CalcInfo:
    """Return the ``CalcInfo`` of ``calculation`` running its code with ``cmdline_params``; it retrieves the
    results file, stdout and stderr."""
    codeinfo = datastructures.CodeInfo()
    codeinfo.code_uuid = calculation.inputs.code.uuid
    codeinfo.cmdline_params = cmdline_params
    codeinfo.stdout_name = calculation.options.output_filename

    calcinfo = datastructures.CalcInfo()
    calcinfo.codes_info = [codeinfo]
    calcinfo.local_copy_list = local_copy_list
    calcinfo.retrieve_list = [results_name, calculation.options.output_filename, calculation.options.scheduler_stderr]
    return calcinfo


class JsonResultsParser(Parser):
    """Parser of a job that writes ``results_name`` (JSON with a ``status``): subclasses turn it into outputs in
    :meth:`parse_results`; a missing or unreadable file is an exit code here. Never raises."""

    results_name: str

    def parse(self, **kwargs):
        """Read the results file (``ERROR_MISSING_OUTPUT`` with stderr's tail, or ``ERROR_INVALID_OUTPUT``),
        then :meth:`parse_results`."""
        exit_codes = self.node.process_class.exit_codes
        try:
            content = self.retrieved.base.repository.get_object_content(self.results_name)
        except (FileNotFoundError, OSError):
            return exit_codes.ERROR_MISSING_OUTPUT.format(detail=self._stderr_tail())
        try:
            results = json.loads(content)
            results['status']
        except (ValueError, KeyError, TypeError) as exception:
            return exit_codes.ERROR_INVALID_OUTPUT.format(detail=f'{type(exception).__name__}: {exception}')
        return self.parse_results(results, exit_codes)

    def parse_results(self, results: dict, exit_codes) -> ExitCode:
        """Output what ``results`` holds; return the exit code."""
        raise NotImplementedError

    def _stderr_tail(self) -> str:
        """Return the last lines of the job's stderr, to say why it wrote no results."""
        try:
            text = self.retrieved.base.repository.get_object_content(self.node.get_option('scheduler_stderr'))
        except (FileNotFoundError, OSError):
            return 'no stderr retrieved'
        lines = [line for line in text.strip().splitlines() if line.strip()]
        return ' | '.join(lines[-3:]) if lines else 'stderr is empty'
