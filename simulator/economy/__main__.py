"""``python -m simulator.economy``: see :mod:`simulator.economy.cli`."""

import sys

from simulator.economy.cli import main

sys.exit(main())
