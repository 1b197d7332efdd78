"""``python -m lifeboat.cli``."""

import sys

from lifeboat.cli.main import main

sys.exit(main())
