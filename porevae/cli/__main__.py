"""``python -m porevae.cli ...``: the same as the ``porevae`` command."""

import os
import sys

from porevae.cli import main

status = main()
if status == 130:
    # A KeyboardInterrupt that passed through C-level evaluation (pybind11's eval during an
    # import, for one) leaves CPython's "unhandled KeyboardInterrupt" flag set even though main()
    # handled it; under ``python -m`` that flag turns the exit into death by SIGINT (status -2).
    # The line is printed and cleanup has run (finally blocks, writers), so leave with 130 now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
sys.exit(status)
