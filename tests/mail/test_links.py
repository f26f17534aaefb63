"""Links from text and HTML, with what the reader sees beside where the link goes."""

from __future__ import annotations

import pytest

from tocsin.mail.links import Link, extract_links, urls_in_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://example.com/a?b=1.", ["https://example.com/a?b=1"]),
        ("(http://x.example/path), and www.y.example!", ["http://x.example/path", "www.y.example"]),
        ("<https://z.example/>", ["https://z.example/"]),
        ("no links here, just example.com", []),
    ],
)
def test_urls_in_text(text, expected):
    assert urls_in_text(text) == expected


def test_html_links_keep_their_shown_text_forms_and_images():
    html = (
        '<p>Log in at <a href="http://203.0.113.9/login">https://bank.example</a></p>'
        '<form action="https://collect.example/post"><input name="pw"></form>'
        '<img src="https://track.example/p.gif"><a href="mailto:x@y.example">mail</a>'
        "<a href='https://ok.example'>ok <b>here</b></a>"
    )
    links = extract_links("", html)
    assert links == [
        Link("http://203.0.113.9/login", "href", "https://bank.example"),
        Link("https://collect.example/post", "form"),
        Link("https://track.example/p.gif", "image"),
        Link("https://ok.example", "href", "ok here"),
    ]
    assert links[0].is_ip_literal and links[0].host == "203.0.113.9"
    assert not links[3].is_ip_literal and links[3].host == "ok.example"


def test_broken_html_and_repeats_do_not_break_anything():
    html = '<a href="https://a.example">unclosed <a href="https://b.example">b</a><a href="https://b.example">b</a>'
    links = extract_links("https://a.example https://a.example", html)
    assert [(link.url, link.source) for link in links] == [
        ("https://a.example", "text"),
        ("https://a.example", "href"),
        ("https://b.example", "href"),
    ]
    assert Link("http://[::1]:8080/x", "text").host == "::1"
    assert Link("http://[bad", "text").host is None
