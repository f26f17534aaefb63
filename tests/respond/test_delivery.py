"""Outbox delivery end to end: channel, subscription, emit, deliver, real servers; both engines."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tests.respond.people import add_team, add_user
from tests.respond.servers import free_port
from tests.workspace.conftest import as_role
from tocsin.core.errors import PermissionDeniedError
from tocsin.core.plugins import Registry
from tocsin.core.scheduler import Job
from tocsin.core.settings import Settings
from tocsin.respond.delivery import ChannelTestResult, Deliverer, DeliveryReport
from tocsin.respond.jobs import NotifyJob
from tocsin.respond.notifiers import EmailNotifier, SlackNotifier, TeamsNotifier, WebhookNotifier
from tocsin.workspace.channels import ChannelService
from tocsin.workspace.notify import Emission, NotificationEvent, emit
from tocsin.workspace.permissions import Role
from tocsin.workspace.tables import AuditRecord, Notification, NotificationChannel, Subscription

NOTIFIERS = {
    "email": EmailNotifier(),
    "webhook": WebhookNotifier(),
    "slack": SlackNotifier(),
    "teams": TeamsNotifier(),
}
CREATED = NotificationEvent.ALERT_CREATED


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path / "home")


@pytest.fixture
def deliverer(db, settings):
    return Deliverer(db, settings, NOTIFIERS)


@pytest.fixture
def channels(db, settings):
    return ChannelService(db, settings)


def email_config(port):
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "soc@example.org",
    }


def make_channel(channels, deliverer, admin, kind, config, name=None):
    return channels.create_channel(
        admin, name or f"{kind} channel", kind, config, validate=deliverer.validate_config
    )


def queue(db, *emissions):
    with db.session() as session:
        return emit(session, list(emissions))


def outbox(db):
    with db.session() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def high_alert(alert_id=12, **extra):
    return Emission(
        CREATED,
        f"New high alert {alert_id}",
        {"alert_id": alert_id, "title": "Mimikatz on WS-17"},
        severity="high",
        **extra,
    )


def test_assignment_mail_reaches_the_assignee(db, smtp, admin, channels, deliverer):
    ana = add_user(db, "ana", "ana@example.org")
    rex = add_user(db, "rex", "rex@example.org")
    channel = make_channel(channels, deliverer, admin, "email", email_config(smtp.port))
    channels.subscribe(as_role(Role.READ_ONLY, "ana", user_id=ana), channel.id, ["alert.assigned"])
    queued = queue(
        db,
        Emission(
            NotificationEvent.ALERT_ASSIGNED,
            "Alert 7 assigned to you",
            {"alert_id": 7, "title": "Mimikatz on WS-17"},
            severity="critical",
            user_id=ana,
        ),
        Emission(NotificationEvent.ALERT_ASSIGNED, "Alert 8", {"alert_id": 8}, "high", user_id=rex),
        Emission(NotificationEvent.ALERT_ASSIGNED, "Alert 9", {"alert_id": 9}, "low", user_id=ana),
    )
    assert queued == 1  # rex has no subscription; low is below the default "high"

    now = datetime.now(UTC)
    assert deliverer.deliver_pending(now=now) == DeliveryReport(sent=1)

    [got] = smtp.received
    assert got.rcpt_tos == ["ana@example.org"]
    assert got.message["Subject"] == "Alert 7 assigned to you"
    assert got.message.get_content().replace("\r\n", "\n") == (
        "Alert 7 assigned to you\n\nSeverity: critical\nTitle: Mimikatz on WS-17\n"
        "Event: alert.assigned\nLink: /alerts/7\n"
    )
    [row] = outbox(db)
    assert (row.status, row.attempts, row.sent_at, row.last_error) == ("sent", 1, now, None)
    assert deliverer.deliver_pending(now=now + timedelta(days=1)) == DeliveryReport()
    assert len(smtp.received) == 1


def test_team_subscription_mails_the_team(db, smtp, admin, channels, deliverer):
    soc = add_team(db, "Security")
    add_user(db, "ana", "ana@example.org", team_id=soc)
    add_user(db, "rex", "rex@example.org", team_id=soc)
    add_user(db, "ivy", "ivy@example.org")
    channel = make_channel(channels, deliverer, admin, "email", email_config(smtp.port))
    channels.subscribe(admin, channel.id, ["alert.created"], team_id=soc)

    assert queue(db, high_alert(team_id=soc)) == 1
    assert deliverer.deliver_pending() == DeliveryReport(sent=1)
    assert smtp.received[0].rcpt_tos == ["ana@example.org", "rex@example.org"]


def test_webhook_broadcast_is_signed_and_carries_the_payload(db, sink, admin, channels, deliverer):
    url = sink.url("/hook/T0KEN")
    channel = make_channel(
        channels, deliverer, admin, "webhook", {"url": url, "secret": "hmac-key"}
    )
    channels.subscribe(admin, channel.id, ["alert.created"], "medium", broadcast=True)
    assert queue(db, high_alert(12)) == 1

    assert deliverer.deliver_pending() == DeliveryReport(sent=1)
    [req] = sink.requests
    signature = "sha256=" + hmac.new(b"hmac-key", req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-tocsin-signature"] == signature
    body = json.loads(req.body)
    assert body["event"] == "alert.created"
    assert body["subject"] == "New high alert 12"
    assert body["payload"] == {
        "event": "alert.created",
        "alert_id": 12,
        "title": "Mimikatz on WS-17",
        "severity": "high",
    }
    assert "Link: /alerts/12" in body["text"]


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_slack_and_teams_deliver(db, sink, admin, channels, deliverer, kind):
    channel = make_channel(channels, deliverer, admin, kind, {"url": sink.url()})
    channels.subscribe(admin, channel.id, ["alert.created"], broadcast=True)
    queue(db, high_alert())
    assert deliverer.deliver_pending() == DeliveryReport(sent=1)
    body = json.loads(sink.requests[0].body)
    assert ("blocks" in body) if kind == "slack" else (body["type"] == "message")


def test_retries_back_off_then_fail_when_the_server_is_down(db, admin, channels, deliverer):
    port = free_port()
    channel = make_channel(
        channels, deliverer, admin, "webhook", {"url": f"http://127.0.0.1:{port}/hook/T0KEN"}
    )
    channels.subscribe(admin, channel.id, ["alert.created"], broadcast=True)
    queue(db, high_alert())
    t = datetime.now(UTC)
    delays = [
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(hours=1),
        timedelta(hours=6),
    ]
    for attempt, delay in enumerate(delays, start=1):
        assert deliverer.deliver_pending(now=t) == DeliveryReport(retried=1)
        [row] = outbox(db)
        assert (row.status, row.attempts, row.next_attempt_at) == ("pending", attempt, t + delay)
        assert row.last_error.startswith("webhook request failed: ConnectError")
        assert "T0KEN" not in row.last_error
        not_yet = t + delay - timedelta(microseconds=1)
        assert deliverer.deliver_pending(now=not_yet) == DeliveryReport()
        t += delay

    assert deliverer.deliver_pending(now=t) == DeliveryReport(failed=1)
    [row] = outbox(db)
    assert (row.status, row.attempts, row.sent_at) == ("failed", 6, None)
    assert row.last_error.startswith("webhook request failed: ConnectError")
    assert deliverer.deliver_pending(now=t + timedelta(days=30)) == DeliveryReport()


def test_a_retry_succeeds_when_the_server_recovers(db, sink, admin, channels, deliverer):
    sink.statuses.append(503)
    channel = make_channel(channels, deliverer, admin, "webhook", {"url": sink.url()})
    channels.subscribe(admin, channel.id, ["alert.created"], broadcast=True)
    queue(db, high_alert())
    t = datetime.now(UTC)

    assert deliverer.deliver_pending(now=t) == DeliveryReport(retried=1)
    assert outbox(db)[0].last_error == "webhook endpoint answered HTTP 503"
    assert deliverer.deliver_pending(now=t + timedelta(seconds=30)) == DeliveryReport(sent=1)
    [row] = outbox(db)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, t + timedelta(seconds=30))
    assert len(sink.requests) == 2


def test_a_dead_channel_costs_one_attempt_per_pass(db, sink, admin, channels, deliverer):
    dead = make_channel(
        channels, deliverer, admin, "webhook", {"url": f"http://127.0.0.1:{free_port()}/"}, "dead"
    )
    live = make_channel(channels, deliverer, admin, "webhook", {"url": sink.url()}, "live")
    for channel in (dead, live):
        channels.subscribe(admin, channel.id, ["alert.created"], broadcast=True)
    queue(db, high_alert(1), high_alert(2))  # two notifications per channel
    t = datetime.now(UTC)

    assert deliverer.deliver_pending(now=t) == DeliveryReport(sent=2, retried=1, deferred=1)
    rows = [r for r in outbox(db) if r.channel_id == dead.id]
    assert [(r.status, r.attempts, r.next_attempt_at) for r in rows] == [
        ("pending", 1, t + timedelta(seconds=30)),
        ("pending", 0, t + timedelta(seconds=30)),  # not tried: waits with the failed one
    ]
    assert len(sink.requests) == 2


class PeekingNotifier:
    """A webhook notifier that, mid-send, lets a second deliverer try to take the same rows."""

    kind = "webhook"
    secret_keys = WebhookNotifier.secret_keys

    def __init__(self, db, other, now):
        self.db, self.other, self.now = db, other, now
        self.seen = []

    def validate(self, config):
        return WebhookNotifier().validate(config)

    def send(self, config, message):
        statuses = [r.status for r in outbox(self.db)]
        self.seen.append((statuses, self.other.deliver_pending(now=self.now)))
        WebhookNotifier().send(config, message)


def test_two_deliverers_never_send_one_notification_twice(
    db, sink, admin, channels, deliverer, settings
):
    channel = make_channel(channels, deliverer, admin, "webhook", {"url": sink.url()})
    channels.subscribe(admin, channel.id, ["alert.created"], broadcast=True)
    queue(db, high_alert(1), high_alert(2))
    now = datetime.now(UTC)
    other = Deliverer(db, settings, {"webhook": WebhookNotifier()})
    peeking = PeekingNotifier(db, other, now)
    first = Deliverer(db, settings, {"webhook": peeking})

    assert first.deliver_pending(now=now) == DeliveryReport(sent=2)
    # while the first deliverer sends, both rows are claimed and the other one gets nothing;
    # it could even write (no transaction is held during the send)
    assert peeking.seen == [
        (["sending", "sending"], DeliveryReport()),
        (["sent", "sending"], DeliveryReport()),
    ]
    assert len(sink.requests) == 2


def test_an_abandoned_claim_is_taken_over(db, sink, admin, channels, deliverer):
    channel = make_channel(channels, deliverer, admin, "webhook", {"url": sink.url()})
    channels.subscribe(admin, channel.id, ["alert.created"], broadcast=True)
    queue(db, high_alert(1), high_alert(2))
    t = datetime.now(UTC)
    first, second = (r.id for r in outbox(db))
    with db.session() as session:  # a deliverer claimed both and died; its lease ran out
        session.execute(
            update(Notification)
            .where(Notification.id == first)
            .values(status="sending", attempts=1, next_attempt_at=t - timedelta(seconds=1))
        )
        session.execute(
            update(Notification)
            .where(Notification.id == second)
            .values(status="sending", attempts=6, next_attempt_at=t - timedelta(seconds=1))
        )

    assert deliverer.deliver_pending(now=t) == DeliveryReport(sent=1, failed=1)
    rows = outbox(db)
    assert [(r.status, r.attempts, r.last_error) for r in rows] == [
        ("sent", 2, None),
        ("failed", 6, "delivery interrupted"),
    ]
    assert len(sink.requests) == 1


def test_a_disabled_channel_fails_its_queue(db, sink, admin, channels, deliverer):
    channel = make_channel(channels, deliverer, admin, "webhook", {"url": sink.url()})
    channels.subscribe(admin, channel.id, ["alert.created"], broadcast=True)
    queue(db, high_alert())
    channels.update_channel(admin, channel.id, enabled=False)

    assert deliverer.deliver_pending() == DeliveryReport(failed=1)
    [row] = outbox(db)
    assert (row.status, row.last_error) == ("failed", f"channel {channel.id} is disabled")
    assert sink.requests == []


def test_a_config_that_cannot_work_fails_at_once(db, smtp, admin, channels, deliverer):
    with db.session() as session:  # written before validation existed, say
        row = NotificationChannel(
            name="old",
            kind="email",
            config={"host": "127.0.0.1", "port": smtp.port, "security": "none"},
            enabled=True,
            created_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        session.add(
            Subscription(
                channel_id=row.id,
                events=["alert.created"],
                min_severity="high",
                created_at=datetime.now(UTC),
            )
        )
    queue(db, high_alert())

    assert deliverer.deliver_pending() == DeliveryReport(failed=1)
    [row] = outbox(db)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == "email channel: 'from_address' is required"
    assert smtp.received == []


def test_a_kind_without_notifier_is_retried(db, admin, channels, deliverer):
    channel = channels.create_channel(admin, "pager", "pagerduty", {"routing_key": "abc"})
    channels.subscribe(admin, channel.id, ["alert.created"], broadcast=True)
    queue(db, high_alert())

    assert deliverer.deliver_pending() == DeliveryReport(retried=1)
    assert outbox(db)[0].last_error == (
        "no notifier for channel kind 'pagerduty' (known: email, slack, teams, webhook)"
    )


class BuggyNotifier:
    kind = "webhook"
    secret_keys = ("url",)

    def validate(self, config):
        return dict(config)

    def send(self, config, message):
        raise RuntimeError(f"boom posting to {config['url']}")


def test_a_buggy_plugin_is_retried_without_leaking_the_url(db, admin, channels, settings):
    channel = channels.create_channel(admin, "hook", "webhook", {"url": "https://h.example/T0KEN"})
    channels.subscribe(admin, channel.id, ["alert.created"], broadcast=True)
    queue(db, high_alert())

    report = Deliverer(db, settings, {"webhook": BuggyNotifier()}).deliver_pending()
    assert report == DeliveryReport(retried=1)
    assert (
        outbox(db)[0].last_error == "unexpected RuntimeError in the notifier: boom posting to <url>"
    )


def test_send_test_mails_the_acting_admin_and_is_audited(db, smtp, channels, deliverer):
    me = add_user(db, "ada", "ada@example.org")
    admin = as_role(Role.ADMIN, "ada", user_id=me)
    channel = make_channel(channels, deliverer, admin, "email", email_config(smtp.port))

    assert deliverer.send_test(admin, channel.id) == ChannelTestResult(ok=True)
    [got] = smtp.received
    assert got.rcpt_tos == ["ada@example.org"]
    assert got.message["Subject"] == "tocsin test notification (email channel)"

    dead = make_channel(
        channels, deliverer, admin, "webhook", {"url": f"http://127.0.0.1:{free_port()}/T0KEN"}
    )
    result = deliverer.send_test(admin, dead.id)
    assert not result.ok and result.error.startswith("webhook request failed: ConnectError")
    assert "T0KEN" not in result.error

    with pytest.raises(PermissionDeniedError):
        deliverer.send_test(as_role(Role.ANALYST, "ana"), channel.id)
    with db.session() as session:
        audit = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "channel.test").order_by(AuditRecord.id)
        ).all()
        assert [(a.actor, a.target, a.outcome) for a in audit] == [
            ("ada", f"channel:{channel.id}", "success"),
            ("ada", f"channel:{dead.id}", "failure"),
        ]
        assert "T0KEN" not in json.dumps([a.detail for a in audit])


def test_notify_job_delivers_the_outbox(db, smtp, admin, channels, deliverer, tmp_path):
    settings = Settings(home=tmp_path / "job-home", database_url=db.url)
    assert isinstance(NotifyJob(), Job)
    job = NotifyJob(NOTIFIERS)  # the plugin path is covered by the registration test
    assert job.id == "respond.notify"
    assert job.interval(settings) == settings.notify_interval_seconds
    channel = make_channel(
        channels,
        deliverer,
        admin,
        "email",
        {**email_config(smtp.port), "to_addresses": ["soc@example.org"]},
    )
    channels.subscribe(admin, channel.id, ["alert.created"], broadcast=True)
    queue(db, high_alert(1), high_alert(2))

    try:
        assert job.run(settings) == "2 sent, 0 to retry, 0 failed, 0 deferred"
    finally:
        job.close()
    assert sorted(m.message["Subject"] for m in smtp.received) == [
        "New high alert 1",
        "New high alert 2",
    ]


def test_builtin_notifiers_are_registered_as_plugins():
    registry = Registry()
    assert {"email", "webhook", "slack", "teams"} <= set(registry.ids("tocsin.notifiers")), (
        'add the [project.entry-points."tocsin.notifiers"] of tocsin.respond.notifiers to '
        "pyproject.toml and reinstall"
    )
    for kind, notifier in NOTIFIERS.items():
        assert registry.load("tocsin.notifiers", kind) is type(notifier)


def test_a_raised_alert_reaches_slack(db, sink, admin, settings):
    """The whole path: a detector raises an alert, the outbox gets it, Slack receives it."""
    from tocsin.workspace.models import AlertDraft
    from tocsin.workspace.service import Workspace

    workspace = Workspace(db, settings)
    deliverer = Deliverer(db, settings, NOTIFIERS)
    channel = make_channel(workspace.channels, deliverer, admin, "slack", {"url": sink.url()})
    workspace.channels.subscribe(admin, channel.id, ["alert.created"], broadcast=True)

    result = workspace.raise_alerts(
        [
            AlertDraft("dns.dga", "DGA domain looked up", "critical"),
            AlertDraft("dns.rare", "Rare domain", "low"),  # below the subscription's "high"
        ]
    )
    assert deliverer.deliver_pending() == DeliveryReport(sent=1)
    [req] = sink.requests
    body = json.loads(req.body)
    assert "DGA domain looked up" in body["text"]
    critical = result.created[0]
    assert body["blocks"][-1]["elements"][0]["text"] == f"Open in tocsin: /alerts/{critical}"
