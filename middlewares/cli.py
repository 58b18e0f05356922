"""The ``middlewares`` command: ``serve`` a configured stack, ``check`` it, ``compress`` a tree.

::

    middlewares serve examples/demo.toml                 # waitress on http://127.0.0.1:8000
    middlewares serve stack.toml --server gunicorn --workers 4 --host 0.0.0.0
    middlewares check stack.toml                         # the stack outermost first; exit 0 or 1
    middlewares compress static/                         # .br/.gz/.zst twins next to each file

The current directory is put first on ``sys.path`` so ``app = "myproject.wsgi:app"`` imports as
it does under ``python -m``, gunicorn and waitress-serve.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

from .config import Config, ConfigError, resolve

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 1 a configuration error)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        status: int = args.run(args)
    except ConfigError as exc:
        print(f"middlewares {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="middlewares", description="Serve, check and prepare WSGI middleware stacks."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the stack a config file describes")
    serve.add_argument("config", metavar="CONFIG", help="a .toml file (see `check`)")
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    serve.add_argument(
        "--server",
        choices=("waitress", "gunicorn"),
        help="waitress (default; one process) or gunicorn (several worker processes)",
    )
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (gunicorn; default 1)"
    )
    serve.add_argument("--threads", type=int, help="threads per process (default: 4 waitress)")
    serve.set_defaults(run=_serve)

    check = commands.add_parser("check", help="validate a config and print the stack")
    check.add_argument("config", metavar="CONFIG")
    check.set_defaults(run=_check)

    compress = commands.add_parser("compress", help="write compressed twins of static files")
    compress.add_argument("directory", metavar="DIR")
    compress.add_argument("--workers", type=int, help="threads compressing at once (default: CPUs)")
    compress.add_argument(
        "--encodings", nargs="+", metavar="ENC", help="br, gzip, zstd (default: br gzip [zstd])"
    )
    compress.add_argument(
        "--min-saving", type=float, default=0.05, help="fraction a twin must save (default 0.05)"
    )
    compress.add_argument("--hidden", action="store_true", help="also dotfiles and dot-dirs")
    compress.set_defaults(run=_compress)
    return parser


def _check(args: argparse.Namespace) -> int:
    config = resolve(args.config)
    config.build()  # the constructors' own checks too: "check" passes only what "serve" runs
    print(config.describe())
    print("OK")
    return 0


def _serve(args: argparse.Namespace) -> int:
    server = args.server or ("gunicorn" if args.workers > 1 else "waitress")
    if server == "waitress" and args.workers != 1:
        raise SystemExit("middlewares serve: waitress runs one process; use --server gunicorn")
    if args.workers < 1 or (args.threads is not None and args.threads < 1):
        raise SystemExit("middlewares serve: --workers and --threads must be at least 1")
    if importlib.util.find_spec(server) is None:
        raise SystemExit(f"middlewares serve: {server} is not installed (pip install {server})")
    config = resolve(args.config)
    app = config.build()
    print(config.describe(), flush=True)
    if not logging.getLogger().handlers:  # access lines (RequestLogger) to the terminal
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    if server == "gunicorn":
        return _gunicorn(config, args)
    # waitress deletes X-Forwarded-* headers unless told which proxy to trust; when the stack
    # has ProxyFix, that is where trust is decided (its `trusted`), so the headers must reach it.
    proxy_fix = any(
        getattr(layer.factory, "__module__", None) == "middlewares.proxy_fix"
        for layer in config.layers
    )
    return _waitress(app, args, keep_proxy_headers=proxy_fix)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _waitress(app: Any, args: argparse.Namespace, *, keep_proxy_headers: bool) -> int:
    from waitress import create_server  # type: ignore[import-untyped]

    server = create_server(
        app,
        host=args.host,
        port=args.port,
        threads=args.threads or 4,
        clear_untrusted_proxy_headers=not keep_proxy_headers,
    )
    port = int(getattr(server, "effective_port", args.port))

    # waitress stops cleanly on KeyboardInterrupt (Ctrl-C); SIGTERM (kill, systemd, docker
    # stop) takes the same path instead of killing the process between two requests.
    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"Serving on {_url(args.host, port)} (waitress); Ctrl-C stops", flush=True)
    server.run()
    print("Stopped", flush=True)
    return 0


def _gunicorn(config: Config, args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    class Server(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
        # Each worker loads the config itself after the fork: nothing built in the master
        # (open files, locks, a profiler's state) is shared between processes.
        def load_config(self) -> None:
            self.cfg.set("bind", _url(args.host, args.port).removeprefix("http://"))
            self.cfg.set("workers", args.workers)
            self.cfg.set("threads", args.threads or 1)
            self.cfg.set("graceful_timeout", 5)

        def load(self) -> Any:
            return resolve(config.origin).build()

    print(
        f"Serving on {_url(args.host, args.port)} (gunicorn, {args.workers} workers); Ctrl-C stops",
        flush=True,
    )
    # gunicorn's arbiter handles SIGINT and SIGTERM itself: it stops the workers, then exits.
    Server().run()
    return 0


def _compress(args: argparse.Namespace) -> int:
    from .precompress import compress_tree

    if not os.path.isdir(args.directory):
        print(f"middlewares compress: error: {args.directory} is not a directory", file=sys.stderr)
        return 1
    try:
        summary = compress_tree(
            args.directory,
            workers=args.workers,
            encodings=args.encodings,
            min_saving=args.min_saving,
            hidden=args.hidden,
        )
    except (TypeError, ValueError) as exc:
        print(f"middlewares compress: error: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0
