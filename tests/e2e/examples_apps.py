"""Apps of the examples that need a line of Python to load (imported by the server process)."""

from __future__ import annotations

from paste.deploy import loadapp

from tests.e2e.servers import ROOT

# What pserve does with examples/site.ini, PasteDeploy's own loader.
site = loadapp("config:" + str(ROOT / "examples" / "site.ini"))
