"""``python -m aiida_mlip_autopipe.common.task_run``: run the task of a ``PythonTaskCalculation`` job.

The job's code is the plugin environment's Python; this reads ``task_inputs.json`` in the working
folder, runs the task and writes ``task_results.json`` (:func:`~.task_io.main`).
"""

import sys

from aiida_mlip_autopipe.common.task_io import main

if __name__ == '__main__':
    sys.exit(main())
