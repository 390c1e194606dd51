"""``python -m adapter`` is the same as the ``adapter`` command."""

from adapter.cli import main

main()
