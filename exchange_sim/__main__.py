"""``python -m exchange_sim``: the same as the ``exchange-sim`` command."""

from exchange_sim.cli import main

raise SystemExit(main())
