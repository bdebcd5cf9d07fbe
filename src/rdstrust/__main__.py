"""``python -m rdstrust``."""

from rdstrust.cli import run

run()
