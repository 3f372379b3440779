"""`python -m likecounter`: the same as the `likecounter` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
