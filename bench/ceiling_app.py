"""The two ceilings the portal's pages are compared with: bare Starlette, no middleware, no database.

* ``GET /json``: a small JSON response (the cost of Starlette + uvicorn themselves).
* ``GET /page``: a Jinja page (template inheritance, a loop, autoescaped variables) whose
  output is padded to exactly ``page_bytes`` bytes, the size of the portal's signed-in
  account page measured just before the run (``bench.load`` passes it in
  ``BENCH_PAGE_BYTES``).

Served the same way as the portal: ``uvicorn --factory bench.ceiling_app:create_app_from_env``.
"""

from __future__ import annotations

import os

from jinja2 import DictLoader, Environment, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

DEFAULT_PAGE_BYTES = 5000

_BASE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{% block title %}{% endblock %} · {{ site_name }}</title>
  <link rel="stylesheet" href="/static/css/portal.css">
</head>
<body>
  <header class="site-header">
    <a class="brand" href="/">{{ site_name }}</a>
    <nav aria-label="Main"><ul>
      {% for href, label in nav %}
      <li><a href="{{ href }}"{% if href == current_path %} aria-current="page"{% endif %}>{{ label }}</a></li>
      {% endfor %}
    </ul></nav>
  </header>
  <main id="main" class="wrap">
    {% block content %}{% endblock %}
  </main>
  <footer class="site-footer"><p>{{ footer }}</p></footer>
</body>
</html>
"""

_PAGE = """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block content %}
<h1>Hello, {{ user_name }}</h1>
<dl class="facts">
  {% for term, value in facts %}<dt>{{ term }}</dt><dd>{{ value }}</dd>{% endfor %}
</dl>
<ul class="task-grid">
  {% for href, title, text in tasks %}<li class="task-card"><a href="{{ href }}"><span class="task-title">{{ title }}</span>
  <span class="task-text">{{ text }}</span></a></li>{% endfor %}
</ul>
<div class="padding">__PADDING__</div>
{% endblock %}
"""

_FILLER = "Northwind Devices customer and partner portal: orders, warranty, repairs and help articles. "

CONTEXT = {
    "site_name": "Northwind Devices",
    "title": "Your account",
    "user_name": "Alice Chen",
    "current_path": "/page",
    "footer": "Northwind Devices customer and partner portal · Become a partner · Help articles",
    "nav": [("/kb", "Help articles"), ("/repair-status", "Repair status"), ("/warranty", "Warranty"), ("/page", "Account")],
    "facts": [
        ("E-mail address", "alice@example.com"),
        ("Company account", "Personal account: you see orders & repairs under your e-mail address."),
        ("Two-factor sign-in", "Off"),
    ],
    "tasks": [
        ("/warranty", "Check warranty", "Enter a serial number to see if a unit is covered."),
        ("/repair-status", "Check repair status", "Follow a repair with its RMA number and your e-mail address."),
        ("/kb", "Search help", "Answers to common questions, in English and Chinese."),
    ],
}


def _environment(padding: str) -> Environment:
    return Environment(
        loader=DictLoader({"base.html": _BASE, "page.html": _PAGE.replace("__PADDING__", padding)}),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def _rendered_size(env: Environment) -> int:
    return len(env.get_template("page.html").render(CONTEXT).encode())


def padded_environment(page_bytes: int) -> Environment:
    """A Jinja environment whose ``page.html`` renders to exactly ``page_bytes`` bytes."""
    bare = _rendered_size(_environment(""))
    if page_bytes < bare:
        raise ValueError(f"page_bytes={page_bytes} is smaller than the unpadded template ({bare} bytes)")
    missing = page_bytes - bare
    padding = (_FILLER * (missing // len(_FILLER) + 1))[:missing]
    env = _environment(padding)
    size = _rendered_size(env)
    if size != page_bytes:  # pragma: no cover - the padding is ASCII, so this cannot drift
        raise RuntimeError(f"padded page is {size} bytes, wanted {page_bytes}")
    return env


def create_app(page_bytes: int = DEFAULT_PAGE_BYTES) -> Starlette:
    templates = Jinja2Templates(env=padded_environment(page_bytes))

    async def json_endpoint(request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "ceiling"})

    async def page_endpoint(request: Request) -> Response:
        return templates.TemplateResponse(request, "page.html", CONTEXT)

    return Starlette(routes=[Route("/json", json_endpoint), Route("/page", page_endpoint)])


def create_app_from_env() -> Starlette:
    """The uvicorn factory: the page size comes from ``BENCH_PAGE_BYTES``."""
    return create_app(int(os.environ.get("BENCH_PAGE_BYTES", DEFAULT_PAGE_BYTES)))
