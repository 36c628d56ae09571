"""``python -m amber``: the same as the ``amber`` command."""

from ._cli import main

main()
