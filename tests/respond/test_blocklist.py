"""Block and allow lists: values, add/update/unchanged, expiry, allow wins, soft removal, exports.

Every test that takes ``db`` (or ``lists``) runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tocsin.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tocsin.respond.blocklist import (
    EXPORTERS,
    BlockLists,
    EntryDraft,
    EntryKind,
    ExportData,
    Exporter,
    ListName,
    detect_kind,
    export_formats,
    normalize_value,
    parse_expiry,
    register_exporter,
)
from tocsin.workspace.db import MIGRATIONS_DIR, Database
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import AuditRecord, BlocklistEntry

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BLOCK, ALLOW = ListName.BLOCK, ListName.ALLOW


@pytest.fixture
def lists(db):
    return BlockLists(db)


def draft(value, **fields):
    return EntryDraft(value, **fields)


def audit_actions(db) -> list[tuple[str, str, str | None]]:
    with db.session() as session:
        rows = session.execute(
            select(AuditRecord.action, AuditRecord.actor, AuditRecord.target)
            .where(AuditRecord.action.startswith("blocklist."))
            .order_by(AuditRecord.id)
        ).all()
    return [tuple(r) for r in rows]


# Values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("Evil.COM.", None, ("domain", "evil.com")),
        ("  evil[.]com ", None, ("domain", "evil.com")),
        ("Bücher.Example", None, ("domain", "xn--bcher-kva.example")),
        ("xn--bcher-kva.example", None, ("domain", "xn--bcher-kva.example")),
        ("💩.la", None, ("domain", "xn--ls8h.la")),
        ("mail_srv.evil.com", "domain", ("domain", "mail_srv.evil.com")),
        ("HTTPS://User:pw@Evil.COM:443/Login?a=1#top", None, ("url", "https://evil.com/Login?a=1")),
        ("hxxp://evil[.]com", None, ("url", "http://evil.com/")),
        ("evil.com/pay ment", None, ("url", "http://evil.com/pay%20ment")),
        ("http://evil.com:8080/é", None, ("url", "http://evil.com:8080/%C3%A9")),
        ("http://[2001:DB8::1]/x", None, ("url", "http://[2001:db8::1]/x")),
        ("ftp://files.evil.com/a.exe", "url", ("url", "ftp://files.evil.com/a.exe")),
        ("Bob.Smith@Evil.COM", None, ("email", "bob.smith@evil.com")),
        ("mailto:ceo@Bücher.example", None, ("email", "ceo@xn--bcher-kva.example")),
        ("bob[@]evil[.]com", None, ("email", "bob@evil.com")),
        ("203.0.113.7", None, ("ip", "203.0.113.7")),
        ("203.0.113.7/32", None, ("ip", "203.0.113.7")),
        ("198.51.100.0/24", None, ("ip", "198.51.100.0/24")),
        ("2001:DB8:0:0::1", None, ("ip", "2001:db8::1")),
        ("[2001:db8::]/48", "ip", ("ip", "2001:db8::/48")),
        ("D41D8CD98F00B204E9800998ECF8427E", None, ("hash", "d41d8cd98f00b204e9800998ecf8427e")),
        ("sha1:" + "A" * 40, None, ("hash", "a" * 40)),
        ("SHA256:" + "0f" * 32, "hash", ("hash", "0f" * 32)),
    ],
)
def test_values_are_detected_and_normalised(text, kind, expected):
    assert normalize_value(text, kind) == (EntryKind(expected[0]), expected[1])
    if kind is None:
        assert detect_kind(text) == expected[0]


@pytest.mark.parametrize(
    ("text", "kind", "error"),
    [
        ("", None, "'' is empty"),
        ("ex ample.com", None, "'ex ample.com' is not a domain name"),
        ("localhost", None, "'localhost' is not a full domain name"),
        ("*.evil.com", None, "already covers its subdomains; give 'evil.com'"),
        ("evil.123", "domain", "'evil.123' is not a full domain name"),
        ("a" * 64 + ".com", "domain", "is not a domain name"),
        ("javascript://alert(1)", None, "only http, https and ftp URLs"),
        ("http://:80/", "url", "has no host"),
        ("http://evil.com:99999/", "url", "is not a URL"),
        ("x@", None, "'x@' is not an email address"),
        ("a b@evil.com", "email", "its local part is invalid"),
        ("bob@localhost", "email", "'bob@localhost' is not an email address: bad domain"),
        ("10.0.0.1/8", None, "has host bits set: did you mean '10.0.0.0/8'?"),
        ("10.0.0.0/7", None, "'10.0.0.0/7' is too broad"),
        ("::/0", "ip", "is too broad"),
        ("300.1.2.3", "ip", "'300.1.2.3' is not an IP address or network"),
        ("abc123", "hash", "'abc123' is not an MD5, SHA-1 or SHA-256 hex digest"),
        ("g" * 32, "hash", "is not an MD5"),
        ("evil.com", "colour", "unknown kind 'colour'"),
        ("http://" + "a" * 3000 + ".com/", None, "is longer than 2048 characters"),
    ],
)
def test_invalid_values_are_refused_with_the_value_named(text, kind, error):
    with pytest.raises(InvalidInputError, match=re.escape(error)):
        normalize_value(text, kind)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", T0 + timedelta(days=30)),
        ("12h", T0 + timedelta(hours=12)),
        ("2w", T0 + timedelta(weeks=2)),
        ("90m", T0 + timedelta(minutes=90)),
        ("2026-12-31", datetime(2026, 12, 31, tzinfo=UTC)),
        ("2026-12-31T18:30", datetime(2026, 12, 31, 18, 30, tzinfo=UTC)),
        ("2026-12-31T18:30+02:00", datetime(2026, 12, 31, 16, 30, tzinfo=UTC)),
        ("never", None),
        ("", None),
        (None, None),
    ],
)
def test_expiry_texts(text, expected):
    assert parse_expiry(text, now=T0) == expected


@pytest.mark.parametrize("text", ["30x", "tomorrow", "999999w"])
def test_unreadable_expiry_texts_are_refused(text):
    with pytest.raises(InvalidInputError, match=f"{text!r}"):
        parse_expiry(text, now=T0)


# Adding -----------------------------------------------------------------------------------


def test_add_then_update_or_leave_unchanged_and_say_what_happened(lists, db, responder):
    first = lists.add(
        responder,
        [draft("Evil.com", reason="phishing kit", source="alert:12", ttl=timedelta(days=1))],
        now=T0,
    )
    assert [(r.outcome, r.detail) for r in first] == [("added", "until 2026-03-03T09:00:00Z")]
    entry = first[0].entry
    assert (entry.list, entry.kind, entry.value) == (BLOCK, EntryKind.DOMAIN, "evil.com")
    assert (entry.reason, entry.source, entry.created_by) == ("phishing kit", "alert:12", "rex")
    assert entry.state(T0) == "active"

    def again(**fields):
        (result,) = lists.add(responder, [draft("evil.com", **fields)], now=T0 + timedelta(hours=1))
        assert result.entry.id == entry.id
        return result.outcome, result.detail, result.entry.expires_at

    assert again(ttl=timedelta(days=30)) == (
        "updated",
        "expiry extended from 2026-03-03T09:00:00Z to 2026-04-01T10:00:00Z",
        datetime(2026, 4, 1, 10, 0, tzinfo=UTC),
    )
    assert again(ttl=timedelta(days=2)) == (
        "unchanged",
        "kept the later expiry 2026-04-01T10:00:00Z (asked for 2026-03-04T10:00:00Z)",
        datetime(2026, 4, 1, 10, 0, tzinfo=UTC),
    )
    assert again(ttl=timedelta(days=30), reason="phishing kit") == (
        "unchanged",
        "already listed until 2026-04-01T10:00:00Z",
        datetime(2026, 4, 1, 10, 0, tzinfo=UTC),
    )
    assert again() == (
        "updated",
        "expiry extended from 2026-04-01T10:00:00Z to never",
        None,
    )
    assert again(ttl=timedelta(days=1)) == (
        "unchanged",
        "kept without expiry (asked for 2026-03-03T10:00:00Z; remove and add it again to shorten)",
        None,
    )
    assert again(reason="  second   campaign ") == (
        "updated",
        "reason replaced (was 'phishing kit')",
        None,
    )
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(BlocklistEntry)) == 1
        row = session.get(BlocklistEntry, entry.id)
        assert (row.reason, row.source) == ("second campaign", "alert:12")  # provenance kept
    target = f"blocklist:{entry.id}"
    assert audit_actions(db) == [
        ("blocklist.add", "rex", target),
        ("blocklist.update", "rex", target),
        ("blocklist.update", "rex", target),
        ("blocklist.update", "rex", target),
    ]


def test_the_same_value_on_each_list_and_of_each_kind_are_separate_entries(lists, responder):
    results = lists.add(
        responder,
        [
            draft("evil.com"),
            draft("evil.com", list="allow"),
            draft("http://evil.com/"),
            draft("EVIL.COM"),  # the first one again, in the same batch
        ],
        now=T0,
    )
    assert [r.outcome for r in results] == ["added", "added", "added", "unchanged"]
    assert results[3].entry.id == results[0].entry.id
    assert lists.list(responder, now=T0).total == 3


def test_a_batch_with_an_invalid_value_writes_nothing_and_names_each_bad_value(
    lists, db, responder
):
    with pytest.raises(InvalidInputError) as caught:
        lists.add(
            responder,
            [
                draft("good.example"),
                draft("not a domain"),
                draft("10.0.0.1/8"),
                draft("late.example", ttl=timedelta(hours=-1)),
                draft("old.example", expires_at=T0 - timedelta(days=1)),
                draft("both.example", ttl=timedelta(days=1), expires_at=T0 + timedelta(days=1)),
                draft("x.example", list="grey"),
            ],
            now=T0,
        )
    message = str(caught.value)
    assert message.startswith("6 of 7 entries are invalid: ")
    for fragment in (
        "'not a domain' is not a domain name",
        "did you mean '10.0.0.0/8'?",
        "'late.example': the ttl must be positive",
        "'old.example': the expiry 2026-03-01T09:00:00Z is in the past",
        "'both.example': give expires_at or ttl, not both",
        "unknown list 'grey'",
    ):
        assert fragment in message
    assert "good.example" not in message
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(BlocklistEntry)) == 0
    assert audit_actions(db) == []


def test_the_database_keeps_one_live_row_per_list_kind_and_value(lists, db, responder):
    (added,) = lists.add(responder, [draft("evil.com")], now=T0)
    row = {
        "list": "block",
        "kind": "domain",
        "value": "evil.com",
        "reason": "",
        "source": "manual",
        "created_by": "x",
        "created_at": T0,
        "updated_at": T0,
    }
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(BlocklistEntry(**row))
    with db.session() as session:  # removed rows may repeat a value: they are history
        session.add(BlocklistEntry(**row, removed_at=T0, removed_by="x"))
        session.add(BlocklistEntry(**row, removed_at=T0, removed_by="y"))
    assert lists.get(responder, added.entry.id).state(T0) == "active"


# Expiry, allow wins, lookups --------------------------------------------------------------


def test_an_expired_entry_is_not_blocked_listed_or_exported_until_renewed(lists, responder):
    lists.add(responder, [draft("evil.com", ttl=timedelta(hours=1))], now=T0)
    soon, later = T0 + timedelta(minutes=30), T0 + timedelta(hours=2)
    assert lists.is_blocked(responder, "domain", "login.evil.com", now=soon)
    assert not lists.is_blocked(responder, "domain", "login.evil.com", now=later)
    assert lists.active_values(responder, "domain", now=soon) == {"evil.com"}
    assert lists.active_values(responder, "domain", now=later) == frozenset()
    assert not lists.snapshot(responder, now=later).is_blocked("domain", "evil.com")
    assert lists.export(responder, "plain", now=soon) == "evil.com\n"
    assert lists.export(responder, "plain", now=later) == ""
    assert lists.list(responder, now=later).items == []
    (shown,) = lists.list(responder, include_expired=True, now=later).items
    assert shown.state(later) == "expired"
    assert shown.to_dict(later)["state"] == "expired"

    (renewed,) = lists.add(responder, [draft("evil.com", ttl=timedelta(days=1))], now=later)
    assert renewed.outcome == "updated"
    assert renewed.entry.id == shown.id
    assert renewed.detail == (
        "renewed: it had expired at 2026-03-02T10:00:00Z; now until 2026-03-03T11:00:00Z"
    )
    assert lists.is_blocked(responder, "domain", "evil.com", now=later)


def test_the_most_specific_entry_decides_and_allow_wins_a_tie(lists, responder):
    lists.add(
        responder,
        [
            draft("evil.com"),
            draft("good.evil.com", list="allow"),
            draft("blogspot.com", list="allow"),
            draft("phish.blogspot.com"),
            draft("both.example"),
            draft("both.example", list="allow"),
            draft("10.0.0.0/8"),
            draft("10.1.2.3", list="allow"),
            draft("192.168.0.0/16", list="allow"),
            draft("192.168.5.0/24"),
            draft("2001:db8::/32"),
            draft("https://docs.example/share/x"),
            draft("https://docs.example/share/x", list="allow"),
            draft("ceo@evil.com"),
            draft("a" * 64),
        ],
        now=T0,
    )
    snapshot = lists.snapshot(responder, now=T0)
    cases = [
        ("domain", "evil.com", True),
        ("domain", "WWW.Evil.com.", True),
        ("domain", "good.evil.com", False),
        ("domain", "deep.good.evil.com", False),
        ("domain", "notevil.com", False),
        ("domain", "phish.blogspot.com", True),
        ("domain", "x.phish.blogspot.com", True),
        ("domain", "other.blogspot.com", False),
        ("domain", "both.example", False),
        ("ip", "10.200.0.1", True),
        ("ip", "10.1.2.3", False),
        ("ip", "10.1.2.4", True),
        ("ip", "10.9.0.0/16", True),
        ("ip", "192.168.5.77", True),
        ("ip", "192.168.6.1", False),
        ("ip", "2001:db8:ffff::1", True),
        ("ip", "2001:db9::1", False),
        ("url", "https://docs.example/share/x", False),
        ("email", "CEO@evil.com", True),
        ("email", "cfo@evil.com", False),
        ("hash", "A" * 64, True),
        ("domain", "not a name", False),
    ]
    for kind, value, blocked in cases:
        assert lists.is_blocked(responder, kind, value, now=T0) is blocked, (kind, value)
        assert snapshot.is_blocked(kind, value) is blocked, (kind, value)
    assert snapshot.verdict("domain", "good.evil.com") is ALLOW
    assert snapshot.is_allowed("ip", "192.168.6.1")
    assert snapshot.verdict("domain", "unknown.example") is None
    with pytest.raises(InvalidInputError, match="unknown kind"):
        snapshot.verdict("colour", "red")
    assert lists.active_values(responder, "domain", now=T0) == {"evil.com", "phish.blogspot.com"}
    assert lists.active_values(responder, "domain", "allow", now=T0) == {
        "good.evil.com",
        "blogspot.com",
        "both.example",
    }
    data = lists.export_data(responder, now=T0)
    # an allowed parent does not lift a blocked subdomain; a blocked network loses its holes
    assert data.values[EntryKind.DOMAIN] == ("evil.com", "phish.blogspot.com")
    assert data.values[EntryKind.URL] == ()
    assert data.values[EntryKind.IP][:4] == (
        "10.0.0.0/16",
        "10.1.0.0/23",
        "10.1.2.0/31",
        "10.1.2.2",
    )
    assert "10.1.2.3" not in data.values[EntryKind.IP]
    assert data.values[EntryKind.IP][-2:] == ("192.168.5.0/24", "2001:db8::/32")
    assert len(data.values[EntryKind.IP]) == 26
    assert data.allowed[EntryKind.IP] == ("10.1.2.3", "192.168.0.0/16")


# Removing ---------------------------------------------------------------------------------


def test_remove_is_soft_audited_and_the_value_can_come_back(lists, db, responder, analyst):
    added = lists.add(
        responder,
        [draft("evil.com"), draft("bob@evil.com"), draft("shared.example")],
        now=T0,
    )
    lists.add(responder, [draft("shared.example", list="allow")], now=T0)
    domain_id, email_id = added[0].entry.id, added[1].entry.id
    later = T0 + timedelta(hours=1)
    removed = lists.remove(
        analyst,
        ids=[domain_id, domain_id],
        values=[(None, "BOB@evil.com")],
        reason="false positive",
        now=later,
    )
    assert [(e.id, e.removed_by, e.removed_at) for e in removed] == [
        (domain_id, "ana", later),
        (email_id, "ana", later),
    ]
    assert not lists.is_blocked(responder, "domain", "evil.com", now=later)
    assert [e.value for e in lists.list(responder, now=later).items] == [
        "shared.example",
        "shared.example",
    ]
    everything = lists.list(responder, include_removed=True, now=later).items
    assert {e.id: e.state(later) for e in everything}[domain_id] == "removed"
    with db.session() as session:
        row = session.get(BlocklistEntry, domain_id)
        assert (row.value, row.removed_by) == ("evil.com", "ana")
        detail = session.scalars(
            select(AuditRecord.detail)
            .where(AuditRecord.action == "blocklist.remove")
            .order_by(AuditRecord.id)
        ).all()
    assert [d["value"] for d in detail] == ["evil.com", "bob@evil.com"]
    assert detail[0]["reason"] == "false positive" and detail[0]["list"] == "block"

    with pytest.raises(
        ConflictError, match=f"entry #{domain_id} \\(evil.com\\) was already removed"
    ):
        lists.remove(analyst, ids=[domain_id])
    with pytest.raises(NotFoundError, match="no block or allow list entry #424242"):
        lists.remove(analyst, ids=[424242])
    with pytest.raises(NotFoundError, match="'evil.com' \\(domain evil.com\\) is not on the"):
        lists.remove(analyst, values=[(None, "evil.com")])
    with pytest.raises(InvalidInputError, match="on both the block and the allow list"):
        lists.remove(analyst, values=[("domain", "shared.example")])
    with pytest.raises(InvalidInputError, match="name the entries"):
        lists.remove(analyst)
    (allowed,) = lists.remove(analyst, values=[(None, "shared.example")], list_name="allow")
    assert allowed.list is ALLOW

    (back,) = lists.add(responder, [draft("evil.com")], now=later)
    assert back.outcome == "added" and back.entry.id != domain_id
    assert lists.is_blocked(responder, "domain", "evil.com", now=later)


def test_reading_needs_blocklist_read_and_changing_blocklist_manage(lists, reader, responder):
    (added,) = lists.add(responder, [draft("evil.com")], now=T0)
    assert lists.list(reader).total == 1
    assert lists.get(reader, added.entry.id).value == "evil.com"
    assert lists.is_blocked(reader, "domain", "evil.com")
    assert lists.export(reader, "domains", now=T0).endswith("evil.com\n")
    for change in (
        lambda: lists.add(reader, [draft("other.example")]),
        lambda: lists.remove(reader, ids=[added.entry.id]),
    ):
        with pytest.raises(PermissionDeniedError, match="blocklist.manage"):
            change()
    nobody = Principal(kind="token", name="forwarder", permissions=frozenset({Permission.INGEST}))
    for read in (
        lambda: lists.list(nobody),
        lambda: lists.get(nobody, added.entry.id),
        lambda: lists.is_blocked(nobody, "domain", "evil.com"),
        lambda: lists.snapshot(nobody),
        lambda: lists.active_values(nobody, "domain"),
        lambda: lists.export(nobody, "plain"),
    ):
        with pytest.raises(PermissionDeniedError, match="blocklist.read"):
            read()


def test_list_filters_and_pages(lists, responder):
    lists.add(
        responder,
        [
            draft("one.example", source="alert:1", reason="Invoice lure"),
            draft("two.example", source="alert:22"),
            draft("http://three.example/x", source="case:7"),
            draft("four.example", list="allow", source="manual"),
            draft("five.example", source="mail.phishing", reason="100%_sure"),
        ],
        now=T0,
    )

    def values(**filters):
        return [e.value for e in lists.list(responder, now=T0, **filters).items]

    assert values() == [
        "five.example",
        "four.example",
        "http://three.example/x",
        "two.example",
        "one.example",
    ]
    assert values(list_name="allow") == ["four.example"]
    assert values(kind="url") == ["http://three.example/x"]
    assert values(source="alert:*") == ["two.example", "one.example"]
    assert values(source="alert:2") == []
    assert values(text="INVOICE") == ["one.example"]
    assert values(text="three") == ["http://three.example/x"]
    assert values(text="%_") == ["five.example"]  # LIKE wildcards are literal
    page = lists.list(responder, limit=2, offset=2, now=T0)
    assert ([e.value for e in page.items], page.total) == (
        ["http://three.example/x", "two.example"],
        5,
    )
    with pytest.raises(InvalidInputError, match="unknown list 'grey'"):
        lists.list(responder, list_name="grey")
    with pytest.raises(InvalidInputError, match="limit"):
        lists.list(responder, limit=0)


# Exports ----------------------------------------------------------------------------------


@pytest.fixture
def exported(lists, responder):
    lists.add(
        responder,
        [
            draft("Zeta.example"),
            draft("alpha.example"),
            draft("allowed.example"),
            draft("allowed.example", list="allow"),
            draft("gone.example", ttl=timedelta(minutes=5)),
            draft("https://alpha.example/login"),
            draft("bob@alpha.example"),
            draft("203.0.113.0/24"),
            draft("198.51.100.7"),
            draft("2001:db8::1"),
            draft("D41D8CD98F00B204E9800998ECF8427E"),
            draft("safe.example", list="allow"),
        ],
        now=T0,
    )
    lists.remove(responder, values=[(None, "alpha.example")], now=T0)
    lists.add(responder, [draft("removed-then-back.example")], now=T0)
    return lists


EXPORT_TIME = T0 + timedelta(hours=1)
EXPECTED_EXPORTS = {
    "domains": (
        "# tocsin block list (domains)\n"
        "# generated-at: 2026-03-02T10:00:00Z\n"
        "# count: 2\n"
        "removed-then-back.example\n"
        "zeta.example\n"
    ),
    "hosts": (
        "# tocsin block list (hosts)\n"
        "# generated-at: 2026-03-02T10:00:00Z\n"
        "# count: 2\n"
        "0.0.0.0 removed-then-back.example\n"
        "0.0.0.0 zeta.example\n"
    ),
    "urls": "https://alpha.example/login\n",
    "emails": "bob@alpha.example\n",
    "ips": "198.51.100.7\n203.0.113.0/24\n2001:db8::1\n",
    "hashes": "d41d8cd98f00b204e9800998ecf8427e\n",
    "plain": (
        "removed-then-back.example\n"
        "zeta.example\n"
        "https://alpha.example/login\n"
        "bob@alpha.example\n"
        "198.51.100.7\n"
        "203.0.113.0/24\n"
        "2001:db8::1\n"
        "d41d8cd98f00b204e9800998ecf8427e\n"
    ),
}


@pytest.mark.parametrize("fmt", sorted(EXPECTED_EXPORTS))
def test_each_export_format_gives_exactly_this_text(exported, reader, fmt):
    assert exported.export(reader, fmt, now=EXPORT_TIME) == EXPECTED_EXPORTS[fmt]


def test_every_built_in_format_is_tested_and_the_allow_list_exports_too(exported, reader):
    assert set(EXPECTED_EXPORTS) <= set(export_formats())
    assert exported.export(reader, "plain", list_name="allow", now=EXPORT_TIME) == (
        "allowed.example\nsafe.example\n"
    )
    assert exported.export(reader, "domains", list_name="allow", now=EXPORT_TIME).startswith(
        "# tocsin allow list (domains)\n"
    )
    with pytest.raises(InvalidInputError, match="unknown export format 'bind9': use one of"):
        exported.export(reader, "bind9")


def test_an_empty_list_exports_only_its_header(lists, reader):
    assert lists.export(reader, "hosts", now=T0) == (
        "# tocsin block list (hosts)\n# generated-at: 2026-03-02T09:00:00Z\n# count: 0\n"
    )
    assert lists.export(reader, "ips", now=T0) == ""


@dataclass(frozen=True)
class UpperExporter:
    name: str = "test-upper"
    description: str = "domains in capitals"
    media_type: str = "text/plain"

    def render(self, data: ExportData) -> str:
        return "".join(f"{v.upper()}\n" for v in data.of(EntryKind.DOMAIN))


def test_later_formats_register_in_the_exporter_registry(exported, reader):
    exporter = UpperExporter()
    assert isinstance(exporter, Exporter)
    register_exporter(exporter)
    try:
        assert "test-upper" in export_formats()
        assert exported.export(reader, "test-upper", now=EXPORT_TIME) == (
            "REMOVED-THEN-BACK.EXAMPLE\nZETA.EXAMPLE\n"
        )
        with pytest.raises(ConflictError, match="'test-upper' is already registered"):
            register_exporter(exporter)
    finally:
        EXPORTERS.pop("test-upper", None)


def test_the_migration_goes_down_and_up(db):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
        command.upgrade(config, "head")
    again = Database(db.url)
    try:
        (result,) = BlockLists(again).add(Principal.system(), [draft("evil.com")])
        assert result.outcome == "added"
    finally:
        again.close()
