"""A throw-away AiiDA profile for the benchmark scripts: temporary ``AIIDA_PATH``, never ``~/.aiida``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def throwaway_profile(name: str, storage_backend: str = 'core.sqlite_dos') -> Iterator[Path]:
    """Create and load profile ``name`` in a temporary ``AIIDA_PATH``; yield that folder, remove it after.

    ``storage_backend`` is ``core.sqlite_dos`` (stored under the folder) or ``core.sqlite_temp``.
    """
    with tempfile.TemporaryDirectory(prefix='mlip-autopipe-bench-') as tmp:
        os.environ['AIIDA_PATH'] = tmp
        from aiida.manage.configuration import create_profile, get_config, load_profile

        storage_config = {'filepath': str(Path(tmp) / 'storage')} if storage_backend == 'core.sqlite_dos' else {}
        profile = create_profile(
            get_config(create=True),
            name=name,
            email=f'{name}@localhost',
            storage_backend=storage_backend,
            storage_config=storage_config,
        )
        # as `verdi presto` sets it: without a broker the runner polls its processes, by default every 60 s
        get_config().set_option('runner.poll.interval', 1, scope=profile.name)
        load_profile(profile.name, allow_switch=True)
        yield Path(tmp)
