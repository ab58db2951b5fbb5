"""`python -m vcc`: the same command as the `vcc` script."""

import sys

from vcc._cli import main

sys.exit(main())
