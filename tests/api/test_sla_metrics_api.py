"""The SLA and metrics routes through the real app, on both database engines."""

import asyncio
from datetime import UTC, datetime, timedelta

from tests.workspace.history_builder import Story
from tocsin.workspace.permissions import Principal, Role

POLICIES = "/api/v1/sla/policies"


def test_policy_crud(ws_api):
    admin, analyst, reader = (ws_api.headers(r) for r in (Role.ADMIN, Role.ANALYST, Role.READ_ONLY))
    security = ws_api.team_ids["Security"]

    async def main():
        async with ws_api.client() as client:
            body = {
                "name": "security high alerts",
                "entity_type": "alert",
                "severity": "high",
                "team_id": security,
                "acknowledge_minutes": 15,
                "resolve_minutes": 240,
                "business_hours": {"timezone": "Europe/Berlin", "start": "08:00"},
            }
            created = await client.post(POLICIES, json=body, headers=admin)
            assert created.status_code == 201, created.text
            policy = created.json()
            assert policy["business_hours"] == {
                "timezone": "Europe/Berlin",
                "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                "start": "08:00",
                "end": "17:00",
                "holidays": [],
            }
            assert policy["pause_statuses"] == []
            assert policy["near_breach_percent"] == 80

            refused = await client.post(POLICIES, json=body, headers=analyst)
            assert refused.status_code == 403
            clash = await client.post(POLICIES, json=body, headers=admin)
            assert clash.status_code == 409
            assert clash.json()["error"] == "ConflictError"
            bad_zone = {**body, "team_id": None, "business_hours": {"timezone": "Mars/Base"}}
            wrong = await client.post(POLICIES, json=bad_zone, headers=admin)
            assert wrong.status_code == 400
            assert "unknown time zone 'Mars/Base'" in wrong.json()["detail"]
            zero = await client.post(
                POLICIES, json={**body, "acknowledge_minutes": 0}, headers=admin
            )
            assert zero.status_code == 422

            other = await client.post(
                POLICIES,
                json={
                    "name": "cases",
                    "entity_type": "case",
                    "severity": "medium",
                    "resolve_minutes": 600,
                    "pause_statuses": ["on_hold"],
                },
                headers=admin,
            )
            assert other.status_code == 201
            listed = await client.get(POLICIES, params={"sort": "-id"}, headers=reader)
            assert listed.status_code == 200
            page = listed.json()
            assert (page["total"], page["limit"], page["offset"]) == (2, 100, 0)
            assert [p["name"] for p in page["items"]] == ["cases", "security high alerts"]
            only_alerts = await client.get(
                POLICIES, params={"entity_type": "alert"}, headers=reader
            )
            assert [p["id"] for p in only_alerts.json()["items"]] == [policy["id"]]

            url = f"{POLICIES}/{policy['id']}"
            patched = await client.patch(
                url, json={"business_hours": None, "near_breach_percent": 50}, headers=admin
            )
            assert patched.status_code == 200, patched.text
            assert patched.json()["business_hours"] is None
            assert patched.json()["near_breach_percent"] == 50
            assert patched.json()["acknowledge_minutes"] == 15  # left as it was
            cleared = await client.patch(url, json={"team_id": None}, headers=admin)
            assert cleared.json()["team_id"] is None
            assert (
                await client.patch(url, json={"enabled": False}, headers=reader)
            ).status_code == 403
            assert (await client.get(url, headers=reader)).json()["team_id"] is None

            assert (await client.delete(url, headers=analyst)).status_code == 403
            deleted = await client.delete(url, headers=admin)
            assert deleted.status_code == 204
            assert (await client.get(url, headers=reader)).status_code == 404
            assert (await client.delete(url, headers=admin)).status_code == 404

    asyncio.run(main())


def test_status_and_check(ws_api):
    admin, responder = ws_api.headers(Role.ADMIN), ws_api.headers(Role.RESPONDER)
    story = Story(ws_api.workspace.db)
    now = datetime.now(UTC)
    late = story.alert(now - timedelta(hours=2), team_id=ws_api.team_ids["Security"])
    fresh = story.alert(now)
    done = story.alert(now - timedelta(hours=3))
    story.move("alert", done, now - timedelta(hours=3) + timedelta(minutes=5), "acknowledged")
    low = story.alert(now, severity="low")

    async def main():
        async with ws_api.client() as client:
            created = await client.post(
                POLICIES,
                json={
                    "name": "high",
                    "entity_type": "alert",
                    "severity": "high",
                    "acknowledge_minutes": 30,
                },
                headers=admin,
            )
            policy = created.json()["id"]
            response = await client.get(f"/api/v1/sla/status/alert/{late}", headers=responder)
            assert response.status_code == 200
            status = response.json()
            assert (status["policy_id"], status["policy"]) == (policy, "high")
            ack = status["targets"]["acknowledge"]
            assert ack["state"] == "breached"
            assert ack["minutes"] == 30
            assert ack["remaining_seconds"] < 0
            assert ack["met_at"] is None
            assert "resolve" not in status["targets"]

            many = await client.get(
                "/api/v1/sla/status/alert",
                params=[("id", fresh), ("id", done), ("id", low), ("id", 999999)],
                headers=responder,
            )
            assert many.status_code == 200
            items = {s["entity_id"]: s for s in many.json()["items"]}
            assert list(items) == [fresh, done, low]
            assert items[fresh]["targets"]["acknowledge"]["state"] == "ok"
            assert items[done]["targets"]["acknowledge"]["state"] == "met"
            assert items[low]["targets"] == {}

            missing = await client.get("/api/v1/sla/status/alert/999999", headers=responder)
            assert missing.status_code == 404
            wrong = await client.get("/api/v1/sla/status/task/1", headers=responder)
            assert wrong.status_code == 422

            assert (await client.post("/api/v1/sla/check", headers=responder)).status_code == 403
            checked = await client.post("/api/v1/sla/check", headers=admin)
            assert checked.status_code == 200
            events = checked.json()["events"]
            assert [(e["entity_id"], e["target"], e["state"], e["notified"]) for e in events] == [
                (late, "acknowledge", "breached", True)
            ]
            again = await client.post("/api/v1/sla/check", headers=admin)
            assert again.json() == {"events": []}

            changes = ws_api.workspace.history.history(Principal.system(), "alert", late)
            assert [(h.field, h.after) for h in changes if h.actor == "sla"] == [
                ("sla.acknowledge", "breached")
            ]

    asyncio.run(main())


def test_metrics_route(ws_api):
    reader = ws_api.headers(Role.READ_ONLY)
    story = Story(ws_api.workspace.db)
    start = datetime.now(UTC) - timedelta(days=3)
    for ack_minutes in (2, 4):
        alert = story.alert(start, first_seen=start - timedelta(seconds=30), rule_id="net.scan")
        story.move("alert", alert, start + timedelta(minutes=ack_minutes), "acknowledged")
        story.close("alert", alert, start + timedelta(minutes=60), "false_positive")
    case = story.case(start)
    story.move("case", case, start + timedelta(minutes=10), "in_progress")

    async def main():
        async with ws_api.client() as client:
            response = await client.get("/api/v1/metrics", headers=reader)
            assert response.status_code == 200, response.text
            data = response.json()
            assert data["entity_type"] == "alert"
            assert data["counts"]["total"] == 2
            assert data["durations"]["mttd"]["overall"] == {
                "count": 2,
                "mean": 30.0,
                "median": 30.0,
                "p90": 30.0,
            }
            assert data["durations"]["mtta"]["overall"]["mean"] == 180.0
            assert data["durations"]["mttr"]["overall"]["median"] == 3600.0
            assert data["rules"][0] == {
                "rule_id": "net.scan",
                "total": 2,
                "open": 0,
                "closed": 2,
                "classifications": {"false_positive": 2},
                "noise_ratio": 1.0,
            }

            cases = await client.get(
                "/api/v1/metrics",
                params={"entity_type": "case", "period": "day", "since": "7d"},
                headers=reader,
            )
            assert cases.status_code == 200
            body = cases.json()
            assert body["durations"]["mtta"]["overall"]["mean"] == 600.0
            assert list(body["durations"]["mtta"]["by_period"]) == [start.date().isoformat()]
            assert list(body["durations"]) == ["mtta", "mttr"]

            team = await client.get(
                "/api/v1/metrics",
                params={"team_id": ws_api.team_ids["Security"]},
                headers=reader,
            )
            assert team.json()["counts"]["total"] == 0

            old = await client.get(
                "/api/v1/metrics", params={"since": "30d", "until": "4d"}, headers=reader
            )
            assert old.json()["counts"]["total"] == 0
            backwards = await client.get(
                "/api/v1/metrics", params={"since": "1d", "until": "2d"}, headers=reader
            )
            assert backwards.status_code == 400
            unreadable = await client.get(
                "/api/v1/metrics", params={"since": "last tuesday"}, headers=reader
            )
            assert unreadable.status_code == 400
            assert (
                await client.get("/api/v1/metrics", params={"period": "year"}, headers=reader)
            ).status_code == 422
            assert (await client.get("/api/v1/metrics")).status_code == 401

    asyncio.run(main())


def test_alert_and_case_reads_show_sla_time_left(ws_api):
    import asyncio

    from tocsin.workspace.models import AlertDraft
    from tocsin.workspace.permissions import Principal, Role

    system = Principal.system()
    sla = ws_api.workspace.sla
    sla.create_policy(system, "high alerts", "alert", "high", acknowledge_minutes=30)
    sla.create_policy(system, "high cases", "case", "high", resolve_minutes=600)
    alert_id = ws_api.workspace.raise_alert(AlertDraft("t.rule", "Something", "high"))
    low_id = ws_api.workspace.raise_alert(AlertDraft("t.other", "Less", "low"))

    async def main():
        async with ws_api.client() as client:
            headers = ws_api.headers(Role.ANALYST)
            listed = (await client.get("/api/v1/alerts", headers=headers)).json()["items"]
            by_id = {a["id"]: a for a in listed}
            ack = by_id[alert_id]["sla"]["targets"]["acknowledge"]
            assert ack["state"] == "ok" and 0 < ack["remaining_seconds"] <= 30 * 60
            assert by_id[low_id]["sla"]["targets"] == {}  # no policy for low
            one = (await client.get(f"/api/v1/alerts/{alert_id}", headers=headers)).json()
            assert one["sla"]["policy"] == "high alerts"
            case = await client.post(
                "/api/v1/cases", json={"title": "C", "severity": "high"}, headers=headers
            )
            got = await client.get(f"/api/v1/cases/{case.json()['id']}", headers=headers)
            resolve = got.json()["sla"]["targets"]["resolve"]
            assert resolve["minutes"] == 600 and resolve["state"] == "ok"

    asyncio.run(main())
