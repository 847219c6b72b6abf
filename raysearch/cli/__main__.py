"""``python -m raysearch.cli``: the console script."""

import sys

from raysearch.cli.main import main

sys.exit(main())
