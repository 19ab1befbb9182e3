"""`python -m rlhf --help` lists the commands; see rlhf/cli.py."""

import sys

from rlhf.cli import main

sys.exit(main())
