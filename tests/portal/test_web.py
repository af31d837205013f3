"""Helpers of the request pipeline (portal/web.py)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from portal.web import request_path


@pytest.mark.parametrize("path", ["/", "/account", "/kb/a?b#c", "/repairs/RMA-1\\x", "/kb/Zürich 维修", "/a%2Fb", ""])
def test_request_path_is_starlettes_url_path(path: str) -> None:
    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"q=1", "headers": [(b"host", b"example.com:8443")]}
    request = Request(scope)
    assert request_path(request) == request.url.path
