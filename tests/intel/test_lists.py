"""Free-mail providers and URL shorteners, subdomains included."""

from __future__ import annotations

import pytest

from tocsin.intel.lists import FREEMAIL, URL_SHORTENERS, is_freemail, is_shortener


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("gmail.com", True),
        ("GMAIL.COM.", True),
        ("hotmail.co.uk", True),
        ("yahoo.co.jp", True),
        ("proton.me", True),
        ("mail.ru", True),
        ("qq.com", True),
        ("163.com", True),
        ("example.com", False),
        ("notgmail.com", False),
        ("gmail.com.evil.example", False),
    ],
)
def test_is_freemail(domain, expected):
    assert is_freemail(domain) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("bit.ly", True),
        ("www.bit.ly", True),
        ("TinyURL.com", True),
        ("t.co", True),
        ("rb.gy", True),
        ("bit.ly.evil.example", False),
        ("example.com", False),
        ("aka.ms", False),  # a brand's own short links lead only to the brand
    ],
)
def test_is_shortener(host, expected):
    assert is_shortener(host) is expected


def test_lists_are_lower_case_domains_of_reasonable_size():
    for table in (FREEMAIL, URL_SHORTENERS):
        assert all(d == d.lower().strip(".") and "." in d for d in table)
    assert 100 <= len(FREEMAIL) <= 200
    assert 50 <= len(URL_SHORTENERS) <= 80


def test_hostile_names_are_not_walked():
    assert not is_freemail("a." * 5000 + "gmail.com")
    assert not is_shortener("a." * 5000 + "bit.ly")
