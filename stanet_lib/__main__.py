"""``python -m stanet_lib``: the command line (:mod:`stanet_lib.cli`)."""

from .cli import main

raise SystemExit(main())
