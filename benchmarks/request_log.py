"""RequestLogger's per-request cost against Paste's TransLogger, both logging to a file.

Every logger gets its own ``logging.FileHandler`` (the same handler class and formatter, in a
temporary directory), so the figures include what a real deployment pays for the record and
the write.  Goals from the issue: the combined format at most 0.5x TransLogger's overhead, the
JSON format at most 0.7x.  TransLogger does less (it logs when the headers go, so it has no
duration, no byte count of its own and no end-of-response hook).

The ``floor`` row is the app plus one fixed record through the same kind of handler: the part
of the cost that no logger built on :mod:`logging` can avoid (creating the ``LogRecord``,
``Logger.handle``, ``FileHandler.emit`` with its write and flush).  Its ratio bounds every
goal from below: when the floor alone is 0.4x of TransLogger's overhead, 0.5x leaves 0.1x for
everything else the logger does.  The ``cheapest`` row makes its record the way RequestLogger
does (a copy of a per-thread prototype, see ``middlewares._log_records``), and the ``level
off`` row is RequestLogger with its logger disabled: request id, context variable, end of
response, no line.  Their sum is what the logger costs before it reads or formats any field.

Run: ``python -m benchmarks.request_log``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.harness import Workload, check_ratio, hello_app, make_environ
from middlewares._log_records import RecordMaker
from middlewares.request_log import RequestLogger


def _file_logger(name: str, directory: Path) -> logging.Logger:
    logger = logging.getLogger(f"benchmarks.request_log.{name}")
    logger.handlers.clear()
    handler = logging.FileHandler(directory / f"{name}.log")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _streamed_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    for _ in range(10):
        yield b"chunk of a streamed body\n"


FLOOR = "floor: record + file write only"


def _floor(app: Any, logger: logging.Logger) -> Any:
    """The app plus one access record of a fixed line: what any logger on logging pays."""
    line = '203.0.113.7 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 13 "-" "-"'

    def floor(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = app(environ, start_response)
        logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, line, (), None))
        return body

    return floor


CHEAPEST = "floor: cheapest record + file write"
SILENT = "RequestLogger, level off (no line)"


def _cheapest(app: Any, logger: logging.Logger) -> Any:
    """The app plus one record made as RequestLogger makes its records (a prototype's copy)."""
    line = '203.0.113.7 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 13 "-" "-"'
    records = RecordMaker(logger, logging.INFO, __file__, ())

    def cheapest(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = app(environ, start_response)
        logger.handle(records.make(line, records.blank()))
        return body

    return cheapest


def _candidates(app: Any, directory: Path, bare: str) -> dict[str, Any]:
    silent = _file_logger("silent", directory)
    silent.setLevel(logging.WARNING)
    candidates: dict[str, Any] = {
        bare: app,
        FLOOR: _floor(app, _file_logger("floor", directory)),
        CHEAPEST: _cheapest(app, _file_logger("cheapest", directory)),
        SILENT: RequestLogger(app, logger=silent),
    }
    try:
        from paste.translogger import TransLogger  # type: ignore[import-untyped]

        candidates["paste TransLogger"] = TransLogger(
            app, logger=_file_logger("paste", directory), setup_console_handler=False
        )
    except ImportError:  # the bench extra is not installed: print our rows alone
        pass
    for fmt in ("combined", "json"):
        candidates[f"RequestLogger {fmt}"] = RequestLogger(
            app, logger=_file_logger(fmt, directory), format=fmt
        )
    return candidates


def main() -> None:
    environ = make_environ(
        "/articles/2024/hello-world",
        query="page=2&sort=desc",
        headers={
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Referer": "https://example.com/articles",
        },
        remote_addr="203.0.113.7",
    )
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        results = []
        for name, app, bare in (
            ("request_log: hello, 13-byte list body", hello_app, "bare hello app"),
            ("request_log: streamed, 10-chunk generator", _streamed_app, "bare streamed app"),
        ):
            candidates = _candidates(app, directory, bare)
            anchor = "paste TransLogger" if "paste TransLogger" in candidates else None
            workload = Workload(name, environ, candidates, bare, anchor)
            workload.run()
            workload.report()
            results.append(workload)
        for workload in results:
            if workload.anchor:
                print(f"\n{workload.name}")
                print(
                    check_ratio(
                        "  combined vs TransLogger", workload.ratio("RequestLogger combined"), 0.5
                    )
                )
                print(
                    check_ratio("  json vs TransLogger", workload.ratio("RequestLogger json"), 0.7)
                )
                print(
                    f"  the floor alone (a LogRecord, Logger.handle, FileHandler.emit): "
                    f"{workload.ratio(FLOOR):.2f}x of TransLogger's overhead"
                )
                cheapest, silent = workload.ratio(CHEAPEST), workload.ratio(SILENT)
                print(
                    f"  the cheapest record and its write: {cheapest:.2f}x; the middleware "
                    f"without its line (ids, context, end of response): {silent:.2f}x; "
                    f"together {cheapest + silent:.2f}x before any field is read or formatted"
                )
        for logger in [
            logging.getLogger(f"benchmarks.request_log.{n}")
            for n in ("paste", "combined", "json", "floor", "cheapest", "silent")
        ]:
            for handler in logger.handlers:
                handler.close()
            logger.handlers.clear()


if __name__ == "__main__":
    main()
