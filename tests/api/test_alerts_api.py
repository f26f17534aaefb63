"""The alert routes through the real app, with real users of each role (both engines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.lake.writer import LakeWriter
from tocsin.workspace.models import AlertDraft, Observable
from tocsin.workspace.permissions import Role

pytestmark = pytest.mark.anyio

ALERTS = "/api/v1/alerts"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def raise_some(ws_api, *specs):
    """Raise one alert per (key, severity, rule) spec; their ids in order."""
    ids = []
    for key, severity, rule in specs:
        result = ws_api.workspace.raise_alerts(
            [AlertDraft(rule, f"Alert {key}", severity, event_ids=[f"{key}-1"], dedup_key=key)]
        )
        ids.extend(result.created)
    return ids


async def test_list_filters_sorts_and_pages(ws_api):
    ids = raise_some(
        ws_api,
        ("a", "high", "sigma-1"),
        ("b", "low", "dns.dga"),
        ("c", "critical", "dns.tunnel"),
        ("d", "medium", "net.scan"),
    )
    reader = ws_api.headers(Role.READ_ONLY)
    async with ws_api.client() as client:
        everything = (await client.get(ALERTS, headers=reader)).json()
        assert [a["id"] for a in everything["items"]] == ids[::-1]
        assert (everything["total"], everything["limit"], everything["offset"]) == (4, 50, 0)
        first = everything["items"][-1]
        assert first["title"] == "Alert a" and first["event_ids"] == ["a-1"]
        assert first["status"] == "new" and first["version"] == 1

        params = [("severity", "critical,high"), ("sort", "-severity")]
        severe = (await client.get(ALERTS, params=params, headers=reader)).json()
        assert [a["id"] for a in severe["items"]] == [ids[2], ids[0]]
        repeated = await client.get(
            ALERTS, params=[("severity", "low"), ("severity", "medium")], headers=reader
        )
        assert {a["id"] for a in repeated.json()["items"]} == {ids[1], ids[3]}
        dns = await client.get(ALERTS, params={"rule_id": "dns.*", "sort": "id"}, headers=reader)
        assert [a["id"] for a in dns.json()["items"]] == [ids[1], ids[2]]
        page = await client.get(
            ALERTS, params={"sort": "id", "limit": 2, "offset": 2}, headers=reader
        )
        assert [a["id"] for a in page.json()["items"]] == ids[2:]
        assert page.json()["total"] == 4
        recent = await client.get(ALERTS, params={"since": "-1h", "q": "ALERT D"}, headers=reader)
        assert [a["id"] for a in recent.json()["items"]] == [ids[3]]

        bad_sort = await client.get(ALERTS, params={"sort": "password"}, headers=reader)
        assert bad_sort.status_code == 400
        assert "cannot sort by 'password'" in bad_sort.json()["detail"]
        bad_status = await client.get(ALERTS, params={"status": "open"}, headers=reader)
        assert bad_status.status_code == 400
        too_many = await client.get(ALERTS, params={"limit": 5000}, headers=reader)
        assert too_many.status_code == 422


async def test_triage_through_the_stages_with_etags_and_history(ws_api):
    (alert_id,) = raise_some(ws_api, ("a", "high", "sigma-1"))
    responder = ws_api.headers(Role.RESPONDER)
    analyst = ws_api.headers(Role.ANALYST)
    url = f"{ALERTS}/{alert_id}"
    async with ws_api.client() as client:
        shown = await client.get(url, headers=responder)
        assert shown.headers["etag"] == '"1"'
        acked = await client.post(f"{url}/ack", headers={**responder, "If-Match": '"1"'})
        assert acked.status_code == 200
        assert acked.json()["status"] == "acknowledged" and acked.headers["etag"] == '"2"'
        stale = await client.post(f"{url}/start", headers={**responder, "If-Match": '"1"'})
        assert stale.status_code == 409
        assert stale.json()["error"] == "ConflictError"
        assert "reload and retry" in stale.json()["detail"]
        started = await client.post(f"{url}/start", json={"version": 2}, headers=responder)
        assert started.json()["status"] == "in_progress"
        back = await client.post(f"{url}/ack", headers=responder)
        assert back.status_code == 400 and "cannot go back" in back.json()["detail"]

        refused = await client.post(
            f"{url}/close", json={"classification": "true_positive"}, headers=responder
        )
        assert refused.status_code == 403
        missing = await client.post(f"{url}/close", json={}, headers=analyst)
        assert missing.status_code == 422
        unknown = await client.post(f"{url}/close", json={"classification": "meh"}, headers=analyst)
        assert unknown.status_code == 422
        closed = await client.post(
            f"{url}/close",
            json={"classification": "benign_positive", "comment": "admin script"},
            headers=analyst,
        )
        assert closed.status_code == 200
        body = closed.json()
        assert body["status"] == "closed" and body["classification"] == "benign_positive"
        assert body["close_comment"] == "admin script" and body["closed_at"] is not None
        reopened = await client.post(f"{url}/reopen", headers=analyst)
        assert reopened.json()["status"] == "in_progress"
        assert reopened.json()["classification"] is None

        history = (
            await client.get(f"{url}/history", headers=ws_api.headers(Role.READ_ONLY))
        ).json()
        steps = [(h["action"], h["field"], h["after"], h["actor"]) for h in history["items"]]
        assert steps == [
            ("create", None, steps[0][2], "system"),
            ("update", "status", "acknowledged", "rex"),
            ("update", "status", "in_progress", "rex"),
            ("update", "status", "closed", "ana"),
            ("update", "classification", "benign_positive", "ana"),
            ("update", "close_comment", "admin script", "ana"),
            ("reopen", "status", "in_progress", "ana"),
            ("update", "classification", None, "ana"),
            ("update", "close_comment", None, "ana"),
        ]
        assert steps[0][2]["status"] == "new"
        assert (await client.get(f"{ALERTS}/999/history", headers=analyst)).status_code == 404


async def test_assign_comment_and_bulk(ws_api):
    ids = raise_some(ws_api, ("a", "high", "sigma-1"), ("b", "low", "sigma-2"))
    responder = ws_api.headers(Role.RESPONDER)
    analyst = ws_api.headers(Role.ANALYST)
    rex = ws_api.user_ids[Role.RESPONDER]
    security = ws_api.team_ids["Security"]
    url = f"{ALERTS}/{ids[0]}"
    async with ws_api.client() as client:
        assigned = await client.post(
            f"{url}/assign", json={"user_id": rex, "team_id": security}, headers=responder
        )
        assert assigned.status_code == 200
        body = assigned.json()
        assert (body["assignee_id"], body["assignee_name"]) == (rex, "rex")
        assert body["team_name"] == "Security"
        unassigned = await client.post(f"{url}/assign", json={"user_id": None}, headers=responder)
        assert unassigned.json()["assignee_id"] is None
        assert unassigned.json()["team_id"] == security  # not named: kept
        nobody = await client.post(f"{url}/assign", json={"user_id": 99999}, headers=responder)
        assert nobody.status_code == 404

        added = await client.post(f"{url}/comments", json={"body": "on it"}, headers=responder)
        assert added.status_code == 201
        comments = (await client.get(f"{url}/comments", headers=responder)).json()
        assert [(c["id"], c["author"], c["body"]) for c in comments["items"]] == [
            (added.json()["id"], "rex", "on it")
        ]
        empty = await client.post(f"{url}/comments", json={"body": ""}, headers=responder)
        assert empty.status_code == 422
        read_only = await client.post(
            f"{url}/comments", json={"body": "x"}, headers=ws_api.headers(Role.READ_ONLY)
        )
        assert read_only.status_code == 403

        bulk = await client.post(
            f"{ALERTS}/bulk", json={"ids": [*ids, 424242], "action": "ack"}, headers=responder
        )
        assert bulk.status_code == 200
        assert bulk.json() == {"done": ids, "errors": {"424242": "no alert 424242"}}
        bulk_close = await client.post(
            f"{ALERTS}/bulk",
            json={"ids": ids, "action": "close", "params": {"classification": "duplicate"}},
            headers=responder,
        )
        assert bulk_close.status_code == 403  # closing needs alert.close
        closed = await client.post(
            f"{ALERTS}/bulk",
            json={"ids": ids, "action": "close", "params": {"classification": "duplicate"}},
            headers=analyst,
        )
        assert closed.json()["done"] == ids
        listed = await client.get(ALERTS, params={"classification": "duplicate"}, headers=analyst)
        assert listed.json()["total"] == 2
        bad = await client.post(
            f"{ALERTS}/bulk", json={"ids": ids, "action": "explode"}, headers=analyst
        )
        assert bad.status_code == 400


async def test_suppression_routes(ws_api):
    analyst = ws_api.headers(Role.ANALYST)
    responder = ws_api.headers(Role.RESPONDER)
    async with ws_api.client() as client:
        refused = await client.post(
            "/api/v1/suppressions",
            json={"name": "x", "rule_id": "sigma-1", "reason": "noise"},
            headers=responder,
        )
        assert refused.status_code == 403
        created = await client.post(
            "/api/v1/suppressions",
            json={
                "name": "scanner",
                "conditions": {"ip": ["10.0.0.9", "10.0.0.10"]},
                "reason": "the vulnerability scanner",
                "expires_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            },
            headers=analyst,
        )
        assert created.status_code == 201, created.text
        rule = created.json()
        assert rule["conditions"] == {"ip": ["10.0.0.9", "10.0.0.10"]} and rule["active"]
        result = ws_api.workspace.raise_alerts(
            [
                AlertDraft("net.scan", "Port scan", "medium", observables=[Observable.of("ip", ip)])
                for ip in ("10.0.0.9", "10.0.0.10", "10.0.0.11")
            ]
        )
        assert result.suppressed == 2 and len(result.created) == 1
        listed = await client.get("/api/v1/suppressions", headers=ws_api.headers(Role.READ_ONLY))
        assert [(s["name"], s["hits"]) for s in listed.json()["items"]] == [("scanner", 2)]
        bad = await client.post(
            "/api/v1/suppressions",
            json={"name": "all", "reason": "everything"},
            headers=analyst,
        )
        assert bad.status_code == 400
        disabled = await client.post(f"/api/v1/suppressions/{rule['id']}/disable", headers=analyst)
        assert disabled.json()["enabled"] is False
        deleted = await client.delete(f"/api/v1/suppressions/{rule['id']}", headers=analyst)
        assert deleted.json() == {"status": "deleted"}
        gone = await client.delete(f"/api/v1/suppressions/{rule['id']}", headers=analyst)
        assert gone.status_code == 404


async def test_events_are_resolved_in_the_lake(ws_api):
    writer = LakeWriter(ws_api.settings.lake_dir)
    writer.add(
        [
            {
                "event.id": f"evt-{i}",
                "@timestamp": T0 + timedelta(minutes=i),
                "event.ingested": T0 + timedelta(minutes=i),
                "event.dataset": "windows.sysmon",
                "event.original": f"record {i}",
                "CommandLine": f"cmd /c {i}",
            }
            for i in range(250)
        ]
    )
    writer.flush()
    ws_api.settings.alert_event_ids_max = 150  # more than one lake query's worth
    wanted = [f"evt-{i}" for i in range(0, 250, 2)] + ["evt-999", 'bad"id']
    alert_id = ws_api.workspace.raise_alert(
        AlertDraft("sigma-1", "Many events", "high", event_ids=wanted)
    )
    async with ws_api.client() as client:
        response = await client.get(
            f"{ALERTS}/{alert_id}/events", headers=ws_api.headers(Role.READ_ONLY)
        )
    assert response.status_code == 200
    body = response.json()
    # 125 events found in the alert's order, across two lake queries of 100 ids
    assert [e["event.id"] for e in body["events"]] == wanted[:125]
    assert body["events"][1]["CommandLine"] == "cmd /c 2"
    assert body["missing"] == ["evt-999", 'bad"id']
