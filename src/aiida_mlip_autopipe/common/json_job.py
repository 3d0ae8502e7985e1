"""What the plugin's Python jobs share (the surrogate, ``PythonTaskCalculation``): one command on the code,
a JSON file of results with a ``status``, and the last lines of stderr when that file is missing."""

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


def stderr_tail(parser) -> str:
    """Return the last lines of the parsed job's stderr, to say why it wrote no results."""
    name = parser.node.get_option('scheduler_stderr')
    try:
        text = parser.retrieved.base.repository.get_object_content(name)
    except (FileNotFoundError, OSError):
        return 'no stderr retrieved'
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return ' | '.join(lines[-3:]) if lines else 'stderr is empty'


def read_json_results(parser, results_name: str) -> tuple[dict | None, ExitCode | None]:
    """Return ``(results, None)`` from the retrieved ``results_name`` (a dict with a ``status``), else
    ``(None, exit code)``: ``ERROR_MISSING_OUTPUT`` (with stderr's tail) or ``ERROR_INVALID_OUTPUT``."""
    exit_codes = parser.node.process_class.exit_codes
    try:
        content = parser.retrieved.base.repository.get_object_content(results_name)
    except (FileNotFoundError, OSError):
        return None, exit_codes.ERROR_MISSING_OUTPUT.format(detail=stderr_tail(parser))
    try:
        results = json.loads(content)
        results['status']
    except (ValueError, KeyError, TypeError) as exception:
        return None, exit_codes.ERROR_INVALID_OUTPUT.format(detail=f'{type(exception).__name__}: {exception}')
    return results, None


class JsonResultsParser(Parser):
    """Parser of a job that writes ``results_name`` (JSON with a ``status``): subclasses turn it into outputs in
    :meth:`parse_results`; a missing or unreadable file is an exit code here. Never raises."""

    results_name: str

    def parse(self, **kwargs):
        """Read the results file, then :meth:`parse_results`."""
        results, failure = read_json_results(self, self.results_name)
        if failure:
            return failure
        return self.parse_results(results, self.node.process_class.exit_codes)

    def parse_results(self, results: dict, exit_codes) -> ExitCode:
        """Output what ``results`` holds; return the exit code."""
        raise NotImplementedError
