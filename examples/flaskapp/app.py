"""A small Flask app whose pages build every link with ``url_for``.

Mounted under a prefix (``Dispatcher(mounts={"/shop": app})``), its links carry the prefix,
because Flask builds URLs from ``SCRIPT_NAME``.  Serve it alone with
``waitress-serve examples.flaskapp.app:app``.
"""

from __future__ import annotations

from flask import Flask, url_for
from markupsafe import Markup, escape

app = Flask(__name__)


def page(title: str, links: list[tuple[str, str]]) -> str:
    items = Markup("").join(
        Markup('<li><a href="{}">{}</a></li>').format(href, text) for text, href in links
    )
    return str(
        Markup("<!doctype html><title>{0}</title><h1>{0}</h1><ul>{1}</ul>").format(
            escape(title), items
        )
    )


@app.get("/")
def index() -> str:
    return page(
        "Flask home",
        [
            ("About", url_for("about")),
            ("Item 7", url_for("item", item_id=7)),
            ("About (absolute)", url_for("about", _external=True)),
        ],
    )


@app.get("/about")
def about() -> str:
    return page("About Flask", [("Home", url_for("index"))])


@app.get("/items/<int:item_id>")
def item(item_id: int) -> str:
    return page(f"Item {item_id}", [("Home", url_for("index"))])
