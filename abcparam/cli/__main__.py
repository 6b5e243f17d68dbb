"""``python -m abcparam.cli ...``: the ``abcparam`` command without the console script."""

import sys

from . import main

sys.exit(main())
