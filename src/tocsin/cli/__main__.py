"""``python -m tocsin.cli``: the same as the ``tocsin`` script."""

from tocsin.cli import main

main()
