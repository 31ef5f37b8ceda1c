"""``python -m porevae.cli ...``: the same as the ``porevae`` command."""

import sys

from porevae.cli import main

sys.exit(main())
