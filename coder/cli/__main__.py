"""``python -m coder.cli``: the ``coder`` command."""
from coder.cli import main

main()
