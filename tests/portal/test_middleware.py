"""The app's one middleware: gzip for clients that accept it, the security headers (a view's own
Cache-Control kept, nothing doubled) and a request count per route template and status."""

from __future__ import annotations

import gzip
import re
from typing import Any


def _count(client: Any, method: str, route: str, status: int) -> float:
    text = client.get("/metrics").text
    labels = f'method="{method}",route="{route}",status="{status}"'
    found = re.search(r"^portal_http_requests_total\{" + re.escape(labels) + r"\} ([\d.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_pages_are_gzipped_only_for_clients_that_accept_it(client: Any) -> None:
    plain = client.get("/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    # httpx decodes transparently; ask for the raw bytes to see what travelled.
    with client.stream("GET", "/", headers={"Accept-Encoding": "gzip"}) as zipped:
        raw = b"".join(zipped.iter_raw())
        assert zipped.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in zipped.headers["vary"].lower()
        assert int(zipped.headers["content-length"]) == len(raw) < len(plain.content)
    assert gzip.decompress(raw).decode().count("<main") == plain.text.count("<main") == 1
    assert zipped.headers["content-security-policy"].startswith("default-src 'self'")


def test_each_security_header_is_sent_once_and_a_views_cache_control_is_kept(client: Any) -> None:
    page = client.get("/")
    names = [name.lower() for name, _ in page.headers.multi_items()]
    for name in ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy", "cache-control"):
        assert names.count(name) == 1, name
    assert page.headers["cache-control"] == "no-store"
    static = client.get("/static/css/portal.css")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("cache-control", "")
    assert static.headers["x-content-type-options"] == "nosniff"


def test_requests_are_counted_by_route_template_and_status(client: Any) -> None:
    before_home, before_missing = _count(client, "GET", "/", 200), _count(client, "GET", "unmatched", 404)
    client.get("/")
    client.get("/")
    client.get("/no/such/page")
    assert _count(client, "GET", "/", 200) == before_home + 2
    assert _count(client, "GET", "unmatched", 404) == before_missing + 1


def test_a_page_nonce_matches_its_header(client: Any) -> None:
    page = client.get("/")
    nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce is not None
    assert f'nonce="{nonce.group(1)}"' in page.text
