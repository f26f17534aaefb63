"""``/api/v1/pcap``: stored captures, and the packets of an alert's flows as a pcap download."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tocsin.pcap import synth
from tocsin.pcap.capture import CaptureReader
from tocsin.pcap.importer import import_capture
from tocsin.pcap.writer import write_pcap
from tocsin.workspace.models import AlertDraft
from tocsin.workspace.permissions import Principal, Role

pytestmark = pytest.mark.anyio
T0 = 1_764_000_000 * 10**9


def stored_capture(settings, tmp_path: Path) -> list[dict[str, object]]:
    """Import a capture with a web session and a scan; its flows as the lake has them."""
    frames = synth.merge(
        synth.tcp_session(
            "10.0.0.5", "192.0.2.80", 50123, 80, [(b"GET /", b"x" * 3000)], start_ns=T0
        ),
        synth.syn_scan("10.0.0.66", "10.0.0.10", range(20, 25), start_ns=T0),
    )
    path = tmp_path / "in.pcap"
    write_pcap(path, frames, synth.LINKTYPE_ETHERNET)
    import_capture(settings, path)
    import duckdb

    files = [str(p) for p in settings.lake_dir.glob("dataset=pcap.flow/*/*.parquet")]
    return (
        duckdb.sql("SELECT * FROM read_parquet($f)", params={"f": files})
        .to_arrow_table()
        .to_pylist()
    )


async def test_alert_packets_download(ws_api, tmp_path: Path) -> None:
    flows = stored_capture(ws_api.settings, tmp_path)
    web = next(f for f in flows if f["destination.port"] == 80)
    system = Principal.system("test")
    created = ws_api.workspace.raise_alerts(
        [
            AlertDraft(
                rule_id="net.beacon",
                title="web beacon",
                severity="high",
                event_ids=[],
                dedup_key="net.beacon:test",
                event_time=datetime.fromtimestamp(T0 / 1e9, UTC),
                fields={"network.community_id": [web["network.community_id"]]},
            )
        ],
        actor=system,
    ).created
    alert_id = created[0]
    async with ws_api.client() as client:
        got = await client.get(
            "/api/v1/pcap/extract",
            params={"alert": alert_id},
            headers=ws_api.headers(Role.RESPONDER),
        )
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "application/vnd.tcpdump.pcap"
        path = tmp_path / "down.pcap"
        path.write_bytes(got.content)
        assert sum(len(b) for b in CaptureReader(path)) == web["network.packets"]
        by_flow = await client.get(
            "/api/v1/pcap/extract",
            params={"flow": web["flow.id"]},
            headers=ws_api.headers(Role.ANALYST),
        )
        assert by_flow.content == got.content
        denied = await client.get(
            "/api/v1/pcap/extract",
            params={"alert": alert_id},
            headers=ws_api.headers(Role.READ_ONLY),
        )
        assert denied.status_code == 403
        nothing = await client.get(
            "/api/v1/pcap/extract",
            params={"community_id": "1:AAAAAAAAAAAAAAAAAAAAAAAAAAA="},
            headers=ws_api.headers(Role.ADMIN),
        )
        assert nothing.status_code == 404
        listed = await client.get("/api/v1/pcap/captures", headers=ws_api.headers(Role.READ_ONLY))
        assert listed.status_code == 200
        body = listed.json()
        assert body["captures"][0]["flows"] == len(flows)
        assert body["usage"]["captures"] == 1
        anonymous = await client.get("/api/v1/pcap/captures")
        assert anonymous.status_code == 401
    assert io.BytesIO(got.content).read(4) == bytes.fromhex("4d3cb2a1")
