"""``python -m omnivec.cli``."""

from omnivec.cli import main

main()
