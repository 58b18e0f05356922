"""``python -m middlewares``: the ``middlewares`` command line (:mod:`middlewares.cli`)."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
