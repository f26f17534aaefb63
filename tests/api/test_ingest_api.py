import gzip

import orjson
import pytest

from tests.api.conftest import bearer
from tocsin.api.routes_ingest import MAX_BODY
from tocsin.ingest.spool import Spool, SpoolRecord

pytestmark = pytest.mark.anyio

INGEST = "/api/v1/ingest"


def ndjson(first, count, **extra):
    return b"".join(
        orjson.dumps({"seq": i, "msg": f"login failed for user{i}", **extra}) + b"\n"
        for i in range(first, first + count)
    )


async def test_ingest_needs_an_ingest_token(api):
    body = ndjson(0, 3)
    async with api.client() as client:
        missing = await client.post(INGEST, content=body)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"] == "AuthenticationError"
        wrong_scheme = await client.post(
            INGEST, content=body, headers={"Authorization": f"Basic {api.ingest_token}"}
        )
        assert wrong_scheme.status_code == 401
        unknown = await client.post(INGEST, content=body, headers=bearer(api.ingest_token + "x"))
        assert unknown.status_code == 401
        read_only = await client.post(INGEST, content=body, headers=bearer(api.read_token))
        assert read_only.status_code == 403
        assert read_only.json()["error"] == "PermissionDeniedError"
        revoked_token, info = api.tokens.create("old forwarder", ["ingest"])
        assert (await client.post(INGEST, content=body, headers=bearer(revoked_token))).is_success
        api.tokens.revoke(info.prefix)
        revoked = await client.post(INGEST, content=body, headers=bearer(revoked_token))
        assert revoked.status_code == 401
        assert "revoked" in revoked.json()["detail"]
        admin_token, _ = api.tokens.create("ops", ["admin"])
        assert (await client.post(INGEST, content=body, headers=bearer(admin_token))).is_success
    api.consumer.drain()
    assert api.lake_rows() == 6  # only the two accepted bodies


async def test_ndjson_is_accepted_then_searchable(api):
    async with api.client() as client:
        response = await client.post(
            INGEST, content=ndjson(0, 50), headers=bearer(api.ingest_token)
        )
        assert response.status_code == 202
        assert response.json()["status"] == "accepted"
        assert response.json()["bytes"] == len(ndjson(0, 50))
        api.consumer.drain()
        assert api.lake_rows() == 50
        assert api.lake_rows("json") == 50
        pytest.importorskip("tocsin.lake.querylang")
        params = {"q": "seq:7", "count": "true"}
        assert (await client.get("/api/v1/search", params=params)).status_code == 401
        forbidden = await client.get(
            "/api/v1/search", params=params, headers=bearer(api.ingest_token)
        )
        assert forbidden.status_code == 403
        found = await client.get("/api/v1/search", params=params, headers=bearer(api.read_token))
        assert found.status_code == 200
        assert found.json()["total"] == 1
        assert [e["msg"] for e in found.json()["events"]] == ["login failed for user7"]
        counted = await client.get(
            "/api/v1/search/count", params={"q": "login"}, headers=bearer(api.read_token)
        )
        assert counted.json() == {"total": 50}


@pytest.mark.parametrize(
    ("body", "events"),
    [
        (b'[{"a": 1}, {"a": 2}, {"a": 3}]', 3),
        (b'{\n  "a": 1\n}\n{\n  "a": 2\n}\n', 2),  # concatenated, pretty-printed
        (b'{"a": 1}', 1),
    ],
)
async def test_json_body_shapes(api, body, events):
    async with api.client() as client:
        response = await client.post(INGEST, content=body, headers=bearer(api.ingest_token))
    assert response.status_code == 202
    api.consumer.drain()
    assert api.lake_rows("json") == events
    assert api.consumer.quarantine.count() == 0


async def test_gzip_bodies(api):
    async with api.client() as client:
        declared = await client.post(
            INGEST,
            content=gzip.compress(ndjson(0, 20)),
            headers={**bearer(api.ingest_token), "Content-Encoding": "gzip"},
        )
        assert declared.status_code == 202
        assert declared.json()["bytes"] == len(ndjson(0, 20))
        # recognised by its magic bytes too; several gzip members in a row
        sniffed = await client.post(
            INGEST,
            content=gzip.compress(ndjson(20, 5)) + gzip.compress(ndjson(25, 5)),
            headers=bearer(api.ingest_token),
        )
        assert sniffed.status_code == 202
        broken = await client.post(
            INGEST,
            content=gzip.compress(ndjson(0, 20))[:-12],
            headers={**bearer(api.ingest_token), "Content-Encoding": "gzip"},
        )
        assert broken.status_code == 400
        assert broken.json()["detail"] == "bad gzip body"
    api.consumer.drain()
    assert api.lake_rows() == 30


async def test_gzip_body_inflating_past_the_limit_is_refused(api):
    member = gzip.compress(b"\n" * (1 << 20))  # a gzip body may be many members in a row
    bomb = member * (8 * MAX_BODY // (1 << 20) + 1)
    assert len(bomb) < MAX_BODY
    async with api.client() as client:
        response = await client.post(INGEST, content=bomb, headers=bearer(api.ingest_token))
    assert response.status_code == 413
    assert api.spool.pending_bytes() == 0


async def test_malformed_lines_are_quarantined_and_good_lines_stored(api):
    good = ndjson(0, 10)
    lines = good.splitlines()
    body = b"\n".join(
        [*lines[:4], b'{"seq": broken', *lines[4:8], b"\xff\xfe not json", *lines[8:]]
    )
    async with api.client() as client:
        response = await client.post(INGEST, content=body, headers=bearer(api.ingest_token))
    assert response.status_code == 202
    api.consumer.drain()
    assert api.lake_rows() == 10
    quarantined = sorted(r.raw for r in api.consumer.quarantine.records())
    assert quarantined == [b'{"seq": broken', b"\xff\xfe not json"]


async def test_unrecognised_body_is_quarantined_whole(api):
    async with api.client() as client:
        response = await client.post(
            INGEST, content=b"\x00\x01\x02 plain garbage", headers=bearer(api.ingest_token)
        )
        assert response.status_code == 202
        empty = await client.post(INGEST, content=b" \n ", headers=bearer(api.ingest_token))
        assert empty.status_code == 400
    api.consumer.drain()
    assert api.lake_rows() == 0
    assert [r.raw for r in api.consumer.quarantine.records()] == [b"\x00\x01\x02 plain garbage"]


async def test_body_over_the_limit_is_refused(api):
    too_big = b"x" * (MAX_BODY + 1)
    async with api.client() as client:
        declared = await client.post(INGEST, content=too_big, headers=bearer(api.ingest_token))
        assert declared.status_code == 413

        async def stream():  # no Content-Length: the route counts as it reads
            for start in range(0, len(too_big), 1 << 20):
                yield too_big[start : start + (1 << 20)]

        streamed = await client.post(INGEST, content=stream(), headers=bearer(api.ingest_token))
        assert streamed.status_code == 413
        assert "content-length" not in streamed.request.headers
    assert api.spool.pending_bytes() == 0


async def test_dataset_parameter(api):
    async with api.client() as client:
        named = await client.post(
            INGEST,
            params={"dataset": "web.access"},
            content=ndjson(0, 7),
            headers=bearer(api.ingest_token),
        )
        assert named.status_code == 202
        for bad in ("../etc", "Web", "a/b"):
            invalid = await client.post(
                INGEST,
                params={"dataset": bad},
                content=ndjson(0, 1),
                headers=bearer(api.ingest_token),
            )
            assert invalid.status_code == 400, bad
        explicit_format = await client.post(
            INGEST,
            params={"format": "json", "dataset": "fw"},
            content=ndjson(100, 3),
            headers=bearer(api.ingest_token),
        )
        assert explicit_format.status_code == 202
    api.consumer.drain()
    assert api.lake_rows("web.access") == 7
    assert api.lake_rows("fw") == 3
    assert api.lake_rows() == 10


async def test_full_spool_answers_503_with_retry_after(api):
    api.spool.close()
    api.spool = api.services.spool = Spool(api.settings.spool_dir, max_bytes=1000)
    api.consumer.spool = api.spool
    async with api.client() as client:
        first = await client.post(INGEST, content=ndjson(0, 40), headers=bearer(api.ingest_token))
        assert first.status_code == 202  # under the limit when it came
        assert api.spool.is_full()
        busy = await client.post(INGEST, content=ndjson(40, 1), headers=bearer(api.ingest_token))
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "5"
        api.consumer.drain()
        assert not api.spool.is_full()
        again = await client.post(INGEST, content=ndjson(40, 1), headers=bearer(api.ingest_token))
        assert again.status_code == 202
    api.consumer.drain()
    assert api.lake_rows() == 41


async def test_ingest_without_a_spool_is_unavailable(api):
    api.services.spool = None
    async with api.client() as client:
        response = await client.post(INGEST, content=ndjson(0, 1), headers=bearer(api.ingest_token))
    assert response.status_code == 503


async def test_health_routes(api):
    async with api.client() as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/api/v1/health")).status_code == 401
        assert (
            await client.get("/api/v1/health", headers=bearer(api.ingest_token))
        ).status_code == 403
        await client.post(INGEST, content=ndjson(0, 5), headers=bearer(api.ingest_token))
        before = (await client.get("/api/v1/health", headers=bearer(api.read_token))).json()
        assert before["status"] == "ok"
        assert before["spool_pending_bytes"] > 0
        api.consumer.drain()
        after = (await client.get("/api/v1/health", headers=bearer(api.read_token))).json()
        assert after["spool_pending_bytes"] == 0
        assert [(d["dataset"], d["events"]) for d in after["datasets"]] == [("json", 5)]


async def test_spooled_record_says_who_sent_it(api):
    async with api.client() as client:
        await client.post(
            INGEST,
            params={"dataset": "web"},
            content=ndjson(0, 1),
            headers=bearer(api.ingest_token),
        )
    records, _ = api.spool.read(api.spool.read_checkpoint())
    [(_, record)] = records
    assert isinstance(record, SpoolRecord)
    prefix = api.ingest_token.split("_")[1]
    assert record.kind == "http"
    assert record.source.endswith(f"token:{prefix}")
    assert api.ingest_token not in record.source
    assert (record.dataset, record.format) == ("web", "auto")


async def test_api_docs_are_off_unless_enabled(tmp_path):
    import httpx

    from tocsin.api.app import create_app
    from tocsin.api.deps import Services
    from tocsin.core.settings import load_settings
    from tocsin.lake.reader import LakeReader
    from tocsin.workspace.db import Database
    from tocsin.workspace.service import Workspace

    for enabled, status in ((False, 404), (True, 200)):
        settings = load_settings(home=tmp_path, api_docs=enabled)
        db = Database(settings.workspace_url)
        app = create_app(Services(settings, Workspace(db, settings), LakeReader(settings.lake_dir)))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/api/openapi.json")).status_code == status
            assert (await client.get("/api/docs")).status_code == status
        db.close()
