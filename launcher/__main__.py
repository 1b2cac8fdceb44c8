"""``python -m launcher``: see :mod:`launcher.cli` (exit codes in launcher/errors.py)."""

from __future__ import annotations

import sys

from launcher.cli import main

if __name__ == "__main__":
    sys.exit(main())
