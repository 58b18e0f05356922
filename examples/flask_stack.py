"""A Flask app wrapped in middleware, in code: ``app.wsgi_app = stack(app.wsgi_app, ...)``.

Wrapping ``app.wsgi_app`` rather than ``app`` keeps ``app`` the Flask object, so ``flask run``,
``app.test_client()`` and extensions still see it.  Serve it with either server::

    waitress-serve --no-clear-untrusted-proxy-headers examples.flask_stack:app
    gunicorn --workers 2 --forwarded-allow-ips= examples.flask_stack:app

The flags leave the proxy headers to ProxyFix: waitress otherwise deletes ``X-Forwarded-*``
before the app sees them, and gunicorn otherwise applies ``X-Forwarded-Proto`` itself (see
docs/middlewares/proxy_fix.rst, "Servers that read the headers themselves").  The access lines
go to standard error, the server's log.

To wrap your own Flask app, change the ``from examples.flaskapp.app import app`` line.
"""

from __future__ import annotations

import logging
from functools import partial

from examples.flaskapp.app import app  # your Flask application here
from middlewares.compress import Compress
from middlewares.cors import CORS
from middlewares.proxy_fix import ProxyFix
from middlewares.request_log import RequestLogger
from middlewares.stack import stack

# RequestLogger logs through `logging` (logger "middlewares.access"); without a handler nothing
# would be printed.  In your project, your logging configuration does this.
logging.basicConfig(level=logging.INFO, format="%(message)s")

# The first layer is the outermost: the real client address and scheme first (from one proxy
# on this machine), so the access log and Flask's url_for(_external=True) both see them.
app.wsgi_app = stack(  # type: ignore[method-assign]
    app.wsgi_app,
    partial(ProxyFix, x_for=1, x_proto=1, trusted=["127.0.0.1", "::1"]),
    RequestLogger,
    partial(CORS, allow_origins=["https://app.example"]),
    partial(Compress, min_size=200),
)
