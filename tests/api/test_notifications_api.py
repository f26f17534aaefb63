"""Notification channels, subscriptions and the outbox through the real app, on both engines.

Channel configs are validated by the notifiers registered in ``tocsin.notifiers`` (entry
points), so these tests also prove the built-in notifiers are installed as plugins.
"""

from __future__ import annotations

import asyncio
import json

from tests.respond.servers import free_port, http_sink, smtp_server
from tocsin.respond.delivery import Deliverer
from tocsin.workspace.notify import Emission, NotificationEvent, emit
from tocsin.workspace.permissions import Role
from tocsin.workspace.tables import NotificationChannel

CHANNELS = "/api/v1/notification-channels"
SUBSCRIPTIONS = "/api/v1/subscriptions"
OUTBOX = "/api/v1/notifications"
MASK = "********"


def smtp_config(port, **extra):
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "soc@example.org",
        **extra,
    }


def stored_config(ws_api, channel_id):
    with ws_api.workspace.db.session() as session:
        return session.get(NotificationChannel, channel_id).config


def test_channel_crud_masks_secrets(ws_api):
    admin, analyst, reader = (ws_api.headers(r) for r in (Role.ADMIN, Role.ANALYST, Role.READ_ONLY))
    config = smtp_config(2525, username="soc", password="hunter2-smtp")

    async def main():
        async with ws_api.client() as client:
            created = await client.post(
                CHANNELS,
                json={"name": "SOC mail", "kind": "email", "config": config},
                headers=admin,
            )
            assert created.status_code == 201, created.text
            channel = created.json()
            assert channel["config"]["password"] == MASK
            assert channel["config"]["timeout"] == 10.0  # normalised by the email notifier
            assert "hunter2" not in created.text
            url = f"{CHANNELS}/{channel['id']}"

            listed = (await client.get(CHANNELS, headers=admin)).json()
            assert listed["total"] == 1 and listed["items"][0]["config"]["password"] == MASK
            as_reader = (await client.get(CHANNELS, headers=reader)).json()
            assert as_reader["items"][0]["config"] is None
            assert (await client.get(url, headers=reader)).json()["config"] is None

            # the masked password round-trips unchanged; the port changes
            patched = await client.patch(
                url, json={"config": {**channel["config"], "port": 2526}}, headers=admin
            )
            assert patched.status_code == 200, patched.text
            assert stored_config(ws_api, channel["id"])["password"] == "hunter2-smtp"
            assert stored_config(ws_api, channel["id"])["port"] == 2526

            typo = await client.patch(
                url, json={"config": {**channel["config"], "pasword": "x"}}, headers=admin
            )
            assert typo.status_code == 400
            assert "unknown config key(s) 'pasword'" in typo.json()["detail"]
            unknown = await client.post(
                CHANNELS, json={"name": "x", "kind": "carrier_pigeon", "config": {}}, headers=admin
            )
            assert unknown.status_code == 400
            assert unknown.json()["detail"].startswith("unknown channel kind 'carrier_pigeon'")
            secret_url = {"url": "ftp://hooks.example.org/T0KEN"}
            bad_url = await client.post(
                CHANNELS, json={"name": "x", "kind": "slack", "config": secret_url}, headers=admin
            )
            assert bad_url.status_code == 400 and "T0KEN" not in bad_url.text
            clash = await client.post(
                CHANNELS,
                json={"name": "SOC mail", "kind": "email", "config": config},
                headers=admin,
            )
            assert clash.status_code == 409

            refused = await client.post(
                CHANNELS, json={"name": "y", "kind": "email", "config": config}, headers=analyst
            )
            assert refused.status_code == 403
            assert (await client.delete(url, headers=analyst)).status_code == 403
            assert (await client.delete(url, headers=admin)).status_code == 204
            assert (await client.get(url, headers=admin)).status_code == 404

    asyncio.run(main())


def test_test_message_goes_out_now(ws_api):
    admin = ws_api.headers(Role.ADMIN)

    async def main(smtp):
        async with ws_api.client() as client:
            made = await client.post(
                CHANNELS,
                json={"name": "mail", "kind": "email", "config": smtp_config(smtp.port)},
                headers=admin,
            )
            ok = await client.post(f"{CHANNELS}/{made.json()['id']}/test", headers=admin)
            assert ok.json() == {"ok": True, "error": None}
            chosen = await client.post(
                f"{CHANNELS}/{made.json()['id']}/test",
                json={"recipients": ["oncall@example.org"]},
                headers=admin,
            )
            assert chosen.json()["ok"] is True

            dead = await client.post(
                CHANNELS,
                json={
                    "name": "dead",
                    "kind": "webhook",
                    "config": {"url": f"http://127.0.0.1:{free_port()}/T0KEN"},
                },
                headers=admin,
            )
            failed = await client.post(f"{CHANNELS}/{dead.json()['id']}/test", headers=admin)
            assert failed.status_code == 200
            assert failed.json()["ok"] is False
            assert failed.json()["error"].startswith("webhook request failed: ConnectError")
            assert "T0KEN" not in failed.text
            missing = await client.post(f"{CHANNELS}/999999/test", headers=admin)
            assert missing.status_code == 404

    with smtp_server() as smtp:
        asyncio.run(main(smtp))
    assert [m.rcpt_tos for m in smtp.received] == [["ada@example.org"], ["oncall@example.org"]]
    assert smtp.received[0].message["Subject"] == "tocsin test notification (mail)"


def test_subscription_rules(ws_api):
    admin, reader = ws_api.headers(Role.ADMIN), ws_api.headers(Role.READ_ONLY)
    rita, ana = ws_api.user_ids[Role.READ_ONLY], ws_api.user_ids[Role.ANALYST]
    security = ws_api.team_ids["Security"]

    async def main():
        async with ws_api.client() as client:
            channel = (
                await client.post(
                    CHANNELS,
                    json={"name": "mail", "kind": "email", "config": smtp_config(25)},
                    headers=admin,
                )
            ).json()
            body = {"channel_id": channel["id"], "events": ["alert.assigned", "sla.breached"]}

            own = await client.post(SUBSCRIPTIONS, json=body, headers=reader)
            assert own.status_code == 201, own.text
            assert own.json()["user_id"] == rita and own.json()["min_severity"] == "high"
            for other in ({"user_id": ana}, {"team_id": security}, {"broadcast": True}):
                refused = await client.post(SUBSCRIPTIONS, json={**body, **other}, headers=reader)
                assert refused.status_code == 403, other
            team = await client.post(
                SUBSCRIPTIONS, json={**body, "team_id": security}, headers=admin
            )
            assert team.status_code == 201 and team.json()["team_id"] == security
            bad = await client.post(
                SUBSCRIPTIONS, json={**body, "events": ["alert.exploded"]}, headers=admin
            )
            assert bad.status_code == 400 and "unknown event 'alert.exploded'" in bad.text
            twice = await client.post(SUBSCRIPTIONS, json=body, headers=reader)
            assert twice.status_code == 409

            mine = (await client.get(SUBSCRIPTIONS, headers=reader)).json()
            assert [s["id"] for s in mine["items"]] == [own.json()["id"]]
            every = (await client.get(SUBSCRIPTIONS, headers=admin)).json()
            assert every["total"] == 2
            peek = await client.get(SUBSCRIPTIONS, params={"team_id": security}, headers=reader)
            assert peek.status_code == 403

            theirs = f"{SUBSCRIPTIONS}/{team.json()['id']}"
            assert (await client.delete(theirs, headers=reader)).status_code == 403
            assert (
                await client.delete(f"{SUBSCRIPTIONS}/{own.json()['id']}", headers=reader)
            ).status_code == 204
            assert (await client.delete(theirs, headers=admin)).status_code == 204
            assert (await client.get(SUBSCRIPTIONS, headers=admin)).json()["total"] == 0

    asyncio.run(main())


def test_outbox_after_delivery(ws_api):
    admin, analyst = ws_api.headers(Role.ADMIN), ws_api.headers(Role.ANALYST)
    workspace = ws_api.workspace

    async def setup(url):
        async with ws_api.client() as client:
            channel = await client.post(
                CHANNELS,
                json={"name": "hook", "kind": "webhook", "config": {"url": url, "secret": "k"}},
                headers=admin,
            )
            sub = await client.post(
                SUBSCRIPTIONS,
                json={
                    "channel_id": channel.json()["id"],
                    "events": ["alert.created"],
                    "broadcast": True,
                },
                headers=admin,
            )
            assert sub.status_code == 201, sub.text

    async def check():
        async with ws_api.client() as client:
            outbox = await client.get(OUTBOX, headers=admin)
            assert outbox.status_code == 200
            [row] = outbox.json()["items"]
            assert (row["status"], row["attempts"], row["event"]) == ("sent", 1, "alert.created")
            assert row["payload"]["alert_id"] == 5
            assert (await client.get(OUTBOX, params={"status": "failed"}, headers=admin)).json()[
                "total"
            ] == 0
            assert (
                await client.get(OUTBOX, params={"status": "lost"}, headers=admin)
            ).status_code == 400
            assert (await client.get(OUTBOX, headers=analyst)).status_code == 403
            again = await client.post(f"{OUTBOX}/{row['id']}/retry", headers=admin)
            assert again.status_code == 409

    with http_sink() as sink:
        asyncio.run(setup(sink.url()))
        with workspace.db.session() as session:
            emission = Emission(
                NotificationEvent.ALERT_CREATED, "New alert 5", {"alert_id": 5}, "high"
            )
            assert emit(session, [emission]) == 1
        report = Deliverer(workspace.db, ws_api.settings).deliver_pending()
        assert report.sent == 1
        assert json.loads(sink.requests[0].body)["subject"] == "New alert 5"
        asyncio.run(check())
