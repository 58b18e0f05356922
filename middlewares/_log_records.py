"""Access-log records made for a fraction of what :class:`logging.LogRecord` costs to build.

``LogRecord.__init__`` works out, for every record, things that are the same for every access
record of one logger in one thread: the level name, the source file's base name and module,
the process id and name, the thread's name, the asyncio task (none, in WSGI code).  That is
about 1.5 µs a record, more than the middleware itself.  :class:`RecordMaker` builds one real
record per thread with the real constructor (the prototype, so every attribute any Python
version sets is there), then gives each access record a copy of its attributes with the
per-record ones set afresh: ``msg``, ``created``, ``msecs``, ``relativeCreated`` and
``threadName``.  The result is an ordinary ``LogRecord``, handled by the logger as usual:
filters, handlers, propagation and formatters see no difference.

The shortcut is taken only when nothing could tell: the logger's ``makeRecord`` is
:class:`logging.Logger`'s own, the record factory is :class:`logging.LogRecord` itself (checked
per record, since applications install factories at any time), and the module switches
``logThreads``, ``logProcesses`` and ``logMultiprocessing`` are as they were when the
prototype was made.  Otherwise the record comes from ``logger.makeRecord`` as before.  A
forked child makes new prototypes (its process id differs).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

__all__ = ["RecordMaker"]

_LogRecord = logging.LogRecord
_new = object.__new__
_get_factory = logging.getLogRecordFactory
_current_thread = threading.current_thread
_time_ns = time.time_ns

# Bumped in a forked child, so prototypes made before the fork (with the parent's process id
# and process name) are not used there.  Windows has no fork and no register_at_fork.
_generation = [0]
if hasattr(os, "register_at_fork"):  # pragma: no branch - every POSIX system has it
    os.register_at_fork(after_in_child=lambda: _generation.__setitem__(0, _generation[0] + 1))


class RecordMaker:
    """Makes the access records of one logger at one level (see the module's docstring)."""

    __slots__ = ("_keys", "_level", "_local", "_logger", "_pathname", "fast")

    def __init__(
        self, logger: logging.Logger, level: int, pathname: str, keys: Iterable[str]
    ) -> None:
        """:param keys: the names of the fields every record carries."""
        self._keys = tuple(keys)
        self._logger = logger
        self._level = level
        self._pathname = pathname
        self._local = threading.local()
        #: False when the logger makes its own records (a Logger subclass): always the slow path.
        self.fast = type(logger).makeRecord is logging.Logger.makeRecord

    def blank(self) -> dict[str, Any]:
        """A new dict for the caller to set every field of :attr:`keys` in, then :meth:`make`.

        When the shortcut applies it is a copy of this thread's prototype (so the fields are
        written straight into the record's attributes, with no dict to merge later);
        otherwise a dict of the fields only.
        """
        if self.fast and _get_factory() is _LogRecord:
            local = self._local
            proto: dict[str, Any] | None = getattr(local, "proto", None)
            if (
                proto is None
                or local.generation != _generation[0]
                or local.switches
                != (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
            ):
                proto = self._prototype()
            return proto.copy()
        return dict.fromkeys(self._keys)

    def make(self, msg: str, attributes: dict[str, Any]) -> logging.LogRecord:
        """The record of ``msg`` with the fields set in ``attributes`` (from :meth:`blank`)."""
        if "relativeCreated" in attributes:  # a prototype's copy: complete the record
            ns = _time_ns()
            created = ns / 1e9
            attributes["relativeCreated"] += (created - attributes["created"]) * 1000.0
            attributes["created"] = created
            attributes["msecs"] = (ns % 1_000_000_000) // 1_000_000 + 0.0
            attributes["msg"] = msg
            if attributes["threadName"] is not None:  # a thread may be renamed at any time
                attributes["threadName"] = _current_thread().name
            record: logging.LogRecord = _new(_LogRecord)
            record.__dict__ = attributes
            return record
        logger = self._logger
        record = logger.makeRecord(logger.name, self._level, self._pathname, 0, msg, (), None)
        record.__dict__.update(attributes)
        return record

    def _prototype(self) -> dict[str, Any]:
        """Make this thread's prototype with the real constructor."""
        logger = self._logger
        record = _LogRecord(logger.name, self._level, self._pathname, 0, "", (), None)
        local = self._local
        # The fields' keys first: copies of it are block copies of the final size.
        proto = local.proto = dict.fromkeys(self._keys) | record.__dict__
        local.generation = _generation[0]
        local.switches = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
        return proto
