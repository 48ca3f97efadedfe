"""``python -m gateway`` is the ``callgate`` command."""

from gateway.cli import main

main()
