"""Article bodies: Markdown in, sanitized HTML out."""

from __future__ import annotations

from portal.kb.markdown import first_paragraph, render, sanitize


def test_script_tags_and_event_handlers_never_survive() -> None:
    html = render("Hello <script>alert(1)</script> <img src=x onerror=alert(1)>\n\n<div onclick='x()'>hi</div>")
    assert "<script" not in html
    assert "<img" not in html
    assert "onclick=" not in html.replace("&lt;", "").split("&gt;")[0] or "<div" not in html
    assert "<div" not in html
    cleaned = sanitize('<p onmouseover="x()">a</p><img src="/kb/images/1/a.png" onerror="alert(1)"><script>alert(1)</script>')
    assert cleaned == '<p>a</p><img src="/kb/images/1/a.png">'


def test_javascript_links_are_not_links() -> None:
    html = render("[click](javascript:alert(1)) and [data](data:text/html;base64,PHNjcmlwdD4=)")
    assert "href" not in html
    assert 'href="javascript' not in sanitize('<a href="javascript:alert(1)">x</a>')


def test_external_links_get_noopener_nofollow_and_internal_links_do_not() -> None:
    html = render("[vendor](https://example.com/drivers) and [warranty](/warranty)")
    assert '<a href="https://example.com/drivers" rel="noopener nofollow">vendor</a>' in html
    assert '<a href="/warranty">warranty</a>' in html


def test_only_knowledge_base_images_are_shown() -> None:
    html = render("![router](/kb/images/3/router.png) ![tracker](https://evil.example/pixel.gif)")
    assert '<img src="/kb/images/3/router.png" alt="router">' in html
    assert "evil.example" not in html
    assert "tracker" in html  # the alt text stays readable


def test_tables_code_lists_and_headings_are_kept() -> None:
    html = render("# Setup\n\n1. one\n2. two\n\n| Port | Use |\n|--:|---|\n| 22 | SSH |\n\n```bash\nping 10.0.0.1\n```\n\nUse `ip a`.")
    assert "<h2>Setup</h2>" in html  # one level down: the page title is the only <h1>
    for part in ("<ol>", "<li>one</li>", "<table>", "<th>Port</th>", "<td>22</td>"):
        assert part in html
    assert "style=" not in html  # alignment styles would break the CSP
    assert '<pre><code class="language-bash">ping 10.0.0.1' in html
    assert "<code>ip a</code>" in html


def test_first_paragraph_is_plain_text_and_bounded() -> None:
    assert first_paragraph("# Title\n\nReset the *router* with `reset`.\n\nMore.") == "Reset the router with reset."
    long = first_paragraph("word " * 200, limit=50)
    assert len(long) <= 50
    assert long.endswith("…")


def test_a_leading_heading_that_repeats_the_title_is_left_out() -> None:
    assert render("# Reset the router\n\nHold the button.", title="Reset the router") == "<p>Hold the button.</p>\n"
    assert "<h2>Other</h2>" in render("# Other\n\nText", title="Reset the router")
