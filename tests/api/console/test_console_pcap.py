"""The alert page offers the packets of an alert's flows, and the link downloads them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.api.test_pcap_api import T0, stored_capture
from tocsin.workspace.models import AlertDraft
from tocsin.workspace.permissions import Principal, Role

pytestmark = pytest.mark.anyio


async def test_alert_page_links_its_packets(ws_api, console, tmp_path: Path) -> None:
    flows = stored_capture(ws_api.settings, tmp_path)
    web = next(f for f in flows if f["destination.port"] == 80)
    drafts = [
        AlertDraft(
            rule_id="net.scan",
            title=title,
            severity="medium",
            event_ids=[],
            dedup_key=f"net.scan:{title}",
            event_time=datetime.fromtimestamp(T0 / 1e9, UTC),
            fields=fields,
        )
        for title, fields in (
            ("with packets", {"network.community_id": [web["network.community_id"]]}),
            ("without", {"host.name": "pc1"}),
        )
    ]
    with_packets, without = ws_api.workspace.raise_alerts(
        drafts, actor=Principal.system("test")
    ).created
    responder = await console(Role.RESPONDER)
    page = await responder.client.get(f"/alerts/{with_packets}")
    assert page.status_code == 200
    assert f'href="/api/v1/pcap/extract?alert={with_packets}"' in page.text
    download = await responder.client.get(f"/api/v1/pcap/extract?alert={with_packets}")
    assert download.status_code == 200
    assert download.content[:4] == bytes.fromhex("4d3cb2a1")
    plain = await responder.client.get(f"/alerts/{without}")
    assert "Download packets" not in plain.text
    reader = await console(Role.READ_ONLY)  # may not export raw data: no link
    assert "Download packets" not in (await reader.client.get(f"/alerts/{with_packets}")).text
