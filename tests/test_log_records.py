"""RecordMaker: the access records it makes are the records logging itself would make.

Every test compares against what ``logging.LogRecord`` (or the logger's own ``makeRecord``)
gives for the same logger, level and message, so the shortcut can never drift from the
standard library's records, whatever Python version runs the tests.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from webtest import TestApp

from middlewares._log_formats import FIELDS
from middlewares._log_records import RecordMaker
from middlewares.request_log import RequestLogger
from tests.wsgi_helpers import LogCapture

# The attributes that differ between two records made at different moments.
PER_RECORD = {"created", "msecs", "relativeCreated", "msg"}


def filled(maker: RecordMaker, **values: Any) -> dict[str, Any]:
    attributes = maker.blank()
    for name in FIELDS:
        attributes[name] = values.get(name, f"<{name}>")
    return attributes


def reference(logger: logging.Logger, msg: str) -> logging.LogRecord:
    return logging.LogRecord(logger.name, logging.INFO, __file__, 0, msg, (), None)


@pytest.fixture
def restore_factory() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    switches = logging.logThreads, logging.logProcesses, logging.logMultiprocessing
    yield
    logging.setLogRecordFactory(factory)
    logging.logThreads, logging.logProcesses, logging.logMultiprocessing = switches


def test_record_has_every_attribute_of_a_real_one_with_the_same_values(
    log: LogCapture,
) -> None:
    maker = RecordMaker(log.logger, logging.INFO, __file__, FIELDS)
    before = time.time()
    record = maker.make("the line", filled(maker))
    after = time.time()
    expected = reference(log.logger, "the line")
    assert type(record) is logging.LogRecord
    assert set(record.__dict__) == set(expected.__dict__) | set(FIELDS)
    for name, value in expected.__dict__.items():
        if name not in PER_RECORD:
            assert getattr(record, name) == value, name
    assert record.getMessage() == "the line"
    assert before - 0.001 <= record.created <= after + 0.001
    assert record.msecs == pytest.approx((record.created % 1) * 1000, abs=1.0)
    # relativeCreated counts from logging's start, as the real record's does.
    assert record.relativeCreated == pytest.approx(
        expected.relativeCreated + (record.created - expected.created) * 1000, abs=50
    )
    assert {name: getattr(record, name) for name in FIELDS} == {n: f"<{n}>" for n in FIELDS}


def test_each_record_is_its_own_and_times_advance(log: LogCapture) -> None:
    maker = RecordMaker(log.logger, logging.INFO, __file__, FIELDS)
    first = maker.make("one", filled(maker, status=200))
    time.sleep(0.002)
    second = maker.make("two", filled(maker, status=404))
    assert first.__dict__ is not second.__dict__
    assert (first.msg, first.status, second.msg, second.status) == ("one", 200, "two", 404)  # type: ignore[attr-defined]
    assert second.created > first.created
    assert second.relativeCreated > first.relativeCreated


def test_formatters_and_handlers_see_an_ordinary_record(log: LogCapture) -> None:
    maker = RecordMaker(log.logger, logging.WARNING, __file__, FIELDS)
    formatter = logging.Formatter(
        "%(levelname)s %(name)s %(module)s %(process)d %(threadName)s %(status)s %(message)s"
    )
    record = maker.make("hello", filled(maker, status=201))
    assert formatter.format(record) == (
        f"WARNING {log.logger.name} test_log_records {os.getpid()} "
        f"{threading.current_thread().name} 201 hello"
    )


def test_a_record_factory_installed_later_is_used(log: LogCapture, restore_factory: None) -> None:
    maker = RecordMaker(log.logger, logging.INFO, __file__, FIELDS)
    maker.make("warm up the prototype", filled(maker))
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        record.deployment = "blue"  # type: ignore[attr-defined]
        return record

    logging.setLogRecordFactory(factory)
    record = maker.make("line", filled(maker, method="GET"))
    assert record.deployment == "blue"  # type: ignore[attr-defined]
    assert record.method == "GET"  # type: ignore[attr-defined]
    assert record.getMessage() == "line"


def test_a_logger_subclass_makes_its_own_records(log: LogCapture) -> None:
    class Tagging(logging.Logger):
        def makeRecord(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
            record = super().makeRecord(*args, **kwargs)
            record.tagged = True  # type: ignore[attr-defined]
            return record

    logger = Tagging("tests.log_records.tagging")
    maker = RecordMaker(logger, logging.INFO, __file__, FIELDS)
    assert not maker.fast
    for _ in range(2):
        record = maker.make("line", filled(maker, path="/x"))
        assert record.tagged is True  # type: ignore[attr-defined]
        assert record.path == "/x"  # type: ignore[attr-defined]


def test_a_renamed_thread_is_named_as_it_is_now(log: LogCapture) -> None:
    maker = RecordMaker(log.logger, logging.INFO, __file__, FIELDS)
    names: list[str] = []

    def run() -> None:
        names.append(maker.make("a", filled(maker)).threadName)
        threading.current_thread().name = "renamed-worker"
        names.append(maker.make("b", filled(maker)).threadName)

    worker = threading.Thread(target=run, name="first-name")
    worker.start()
    worker.join()
    assert names == ["first-name", "renamed-worker"]


def test_each_thread_gets_its_own_thread_attributes(log: LogCapture) -> None:
    maker = RecordMaker(log.logger, logging.INFO, __file__, FIELDS)
    main = maker.make("main", filled(maker))
    seen: list[tuple[int | None, str | None]] = []

    def run() -> None:
        record = maker.make("worker", filled(maker))
        seen.append((record.thread, record.threadName))

    worker = threading.Thread(target=run, name="worker-7")
    worker.start()
    worker.join()
    assert main.thread == threading.get_ident()
    assert seen == [(worker.ident, "worker-7")]


def test_switching_thread_and_process_logging_off_is_honoured(
    log: LogCapture, restore_factory: None
) -> None:
    maker = RecordMaker(log.logger, logging.INFO, __file__, FIELDS)
    maker.make("warm up", filled(maker))
    logging.logThreads = False
    logging.logProcesses = False
    record = maker.make("line", filled(maker))
    expected = reference(log.logger, "line")
    assert (record.thread, record.threadName, record.process) == (None, None, None)
    assert (expected.thread, expected.threadName, expected.process) == (None, None, None)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_records_its_own_process_id(log: LogCapture) -> None:
    maker = RecordMaker(log.logger, logging.INFO, __file__, FIELDS)
    assert maker.make("parent", filled(maker)).process == os.getpid()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            record = maker.make("child", filled(maker))
            ok = record.process == os.getpid() and record.process != os.getppid()
            os.write(write, b"ok" if ok else f"bad {record.process}".encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        answer = os.read(read, 100)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert answer == b"ok"


def test_request_logger_records_pass_logger_filters_and_reach_handlers(
    log: LogCapture,
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        status = "404 Not Found" if environ["PATH_INFO"] == "/missing" else "200 OK"
        start_response(status, [("Content-Type", "text/plain")])
        return [b"body"]

    dropped: list[str] = []

    def only_errors(record: logging.LogRecord) -> bool:
        if record.status >= 400:  # type: ignore[attr-defined]
            return True
        dropped.append(record.path)  # type: ignore[attr-defined]
        return False

    log.logger.addFilter(only_errors)
    try:
        client = TestApp(RequestLogger(app, logger=log.logger), lint=True)
        client.get("/fine")
        client.get("/missing", status=404)
    finally:
        log.logger.removeFilter(only_errors)
    assert dropped == ["/fine"]
    assert [record.path for record in log.records] == ["/missing"]  # type: ignore[attr-defined]
    assert type(log.one()) is logging.LogRecord


def test_records_match_the_slow_path_exactly_apart_from_time(log: LogCapture) -> None:
    fast = RecordMaker(log.logger, logging.INFO, __file__, FIELDS)
    fast.make("warm up", filled(fast))
    quick = fast.make("line", filled(fast, status=200))

    slow = RecordMaker(log.logger, logging.INFO, __file__, FIELDS)
    slow.fast = False  # what a Logger subclass with its own makeRecord gets
    standard = slow.make("line", filled(slow, status=200))
    assert set(quick.__dict__) == set(standard.__dict__)
    differing = {
        name
        for name in quick.__dict__
        if name not in PER_RECORD and quick.__dict__[name] != standard.__dict__[name]
    }
    assert differing == set()
