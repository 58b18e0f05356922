"""Dispatcher's cost with 3 and with 1000 mounts, a request under a depth-3 mount.

Anchors: Werkzeug's ``DispatcherMiddleware`` (a dict, walked from the request's full path down:
its cost grows with the request's depth, not the mounts) and Paste's ``URLMap`` (a list scanned
in order: its cost grows with the number of mounts).  Goals from the issue: at most 1.0x of
Werkzeug's overhead, and at most 0.05x of Paste's at 1000 mounts, measured in the same run.

Run: ``python -m benchmarks.dispatch``
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Workload, check_ratio, hello_app, make_environ
from middlewares.dispatch import Dispatcher

PATH = "/svc1/v1/api/users/42"  # under the depth-3 mount /svc1/v1/api


def _mounts(count: int) -> dict[str, Any]:
    """``count`` depth-3 mounts; the requested one is among them."""
    return {f"/svc{i}/v1/api": hello_app for i in range(count)}


def workload(count: int) -> tuple[Workload, list[str]]:
    mounts = _mounts(count)
    candidates: dict[str, Any] = {
        "bare hello app": hello_app,
        "middlewares Dispatcher": Dispatcher(hello_app, mounts=mounts),
    }
    anchors: list[str] = []
    try:
        from werkzeug.middleware.dispatcher import DispatcherMiddleware

        candidates["werkzeug DispatcherMiddleware"] = DispatcherMiddleware(hello_app, mounts)
        anchors.append("werkzeug DispatcherMiddleware")
    except ImportError:  # the bench extra is not installed: print our rows alone
        pass
    try:
        from paste.urlmap import URLMap

        urlmap = URLMap()
        for prefix, app in mounts.items():
            urlmap[prefix] = app
        candidates["paste URLMap"] = urlmap
        anchors.append("paste URLMap")
    except ImportError:
        pass
    name = f"dispatch: {count} mounts, GET {PATH}"
    anchor = anchors[0] if anchors else None
    return Workload(name, make_environ(PATH), candidates, "bare hello app", anchor), anchors


def main() -> None:
    verdicts: list[str] = []
    for count in (3, 1000):
        work, anchors = workload(count)
        work.run()
        work.report()
        ours = "middlewares Dispatcher"
        if "werkzeug DispatcherMiddleware" in anchors:
            ratio = work.ratio(ours, "werkzeug DispatcherMiddleware")
            verdicts.append(check_ratio(f"{count} mounts vs Werkzeug", ratio, 1.0))
        if "paste URLMap" in anchors:
            ratio = work.ratio(ours, "paste URLMap")
            goal = 0.05 if count == 1000 else 1.0
            verdicts.append(check_ratio(f"{count} mounts vs Paste URLMap", ratio, goal))
    print()
    for line in verdicts:
        print(line)


if __name__ == "__main__":
    main()
