"""``python -m omnivec.server``: the same as ``omnivec serve``."""

from omnivec.server.run import main

main()
