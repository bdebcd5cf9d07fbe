"""``python -m rdstrust``."""

from rdstrust.cli import main

main()
