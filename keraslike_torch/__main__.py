"""``python -m keraslike_torch``: the ``keraslike-torch`` command line."""

from .tools.cli import main

raise SystemExit(main())
