"""Protocol metadata from packets: DNS, DHCP and ARP per packet; TCP protocols per stream.

The engine's batches arrive here after their flows are folded. Packets of the per-packet
protocols are picked out of each batch with numpy masks (ports, ethertype) and only those are
dissected one by one. DNS is paired into transactions as Zeek's ``dns.log`` pairs them: a query
waits for its answer (same flow, same id and name); the pair becomes one ``pcap.dns`` event whose
``source`` is the client, so the DNS sensor counts each lookup once and by who asked. A query
never answered comes out when its flow ends.

TCP flows whose protocol we parse are followed by :class:`tocsin.pcap.streams.StreamCollector`;
when such a flow ends, its two streams go to the dissector its first bytes call for.

Malformed protocol data is counted as an anomaly (``dns_malformed``, ...) with its packet
number; the packet and its flow are kept.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from tocsin.pcap.anomalies import Anomalies
from tocsin.pcap.decode import ETH_ARP, UDP
from tocsin.pcap.engine import BatchResult, _addresses, _community_ids
from tocsin.pcap.proto import Malformed
from tocsin.pcap.streams import FlowStreams, StreamCollector

Event = dict[str, Any]
DNS_PORTS = np.array([53, 5353, 5355], dtype=np.int64)
DHCP_PORTS = np.array([67, 68], dtype=np.int64)
MAX_PENDING_DNS = 200_000
HTTP_METHODS = tuple(
    m.encode() + b" "
    for m in ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE")
)


def _when(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


@functools.lru_cache(maxsize=65536)
def _mapped(address: str) -> bytes:
    """An address as the decoder keys it: 16 bytes, IPv4 mapped."""
    parsed = ipaddress.ip_address(address)
    if parsed.version == 4:
        return b"\0" * 10 + b"\xff\xff" + parsed.packed
    return parsed.packed


class MetadataExtractor:
    """Turn one capture's batches into protocol events."""

    def __init__(
        self,
        capture_id: str,
        anomalies: Anomalies,
        *,
        stream_max_bytes: int = 4 * 2**20,
        name: str = "",
    ) -> None:
        self.cid = capture_id
        self.anomalies = anomalies
        self.name = name
        self.prefix = hashlib.blake2b(f"pcap:{capture_id}".encode(), digest_size=8).hexdigest()
        self.streams = StreamCollector(max_bytes=stream_max_bytes)
        self.stream_max_bytes = stream_max_bytes
        # DNS queries waiting for their answer: (flow, id, name) -> the event so far
        self._dns: dict[tuple[int, str, str], Event] = {}
        self._by_flow: dict[int, list[tuple[int, str, str]]] = {}
        self.dissectors: dict[str, Callable[[bytes, bytes, dict[str, Any]], list[Event]]] = {
            "dns": self._tcp_dns,
            "http": self._tcp_http,
            "tls": self._tcp_tls,
            "smtp": self._tcp_smtp,
        }

    # per batch -----------------------------------------------------------------------------
    def batch(self, result: BatchResult) -> list[Event]:
        """Events of one engine step: per-packet protocols, then the flows that ended."""
        events: list[Event] = []
        batch, dec = result.batch, result.decoded
        if len(batch):
            udp = (dec.ipver > 0) & (dec.proto == UDP) & (dec.payload_len > 0) & ~dec.frag
            dns_rows = np.flatnonzero(
                udp & (np.isin(dec.sport, DNS_PORTS) | np.isin(dec.dport, DNS_PORTS))
            )
            if dns_rows.shape[0]:
                events += self._udp_dns(result, dns_rows)
            dhcp_rows = np.flatnonzero(
                udp & np.isin(dec.sport, DHCP_PORTS) & np.isin(dec.dport, DHCP_PORTS)
            )
            if dhcp_rows.shape[0]:
                events += self._per_packet(result, dhcp_rows, "pcap.dhcp", _dhcp)
            arp_rows = np.flatnonzero(dec.ethertype == ETH_ARP)
            if arp_rows.shape[0]:
                events += self._arp(result, arp_rows)
            self.streams.add(batch, dec, result.packet_flow)
        if result.flows is not None and result.flows.num_rows:
            events += self._flows_ended(result)
        return events

    def close(self) -> list[Event]:
        """Whatever is still waiting (the capture ended)."""
        events = list(self._dns.values())
        self._dns.clear()
        self._by_flow.clear()
        return events

    # DNS over UDP ------------------------------------------------------------------------------
    def _network(self, result: BatchResult, rows: npt.NDArray[np.int64]) -> list[Event]:
        """The network fields of packets (source as sent), with their flow and Community ID."""
        dec, batch = result.decoded, result.batch
        src_text, src_raw = _addresses(dec.src_hi[rows], dec.src_lo[rows])
        dst_text, dst_raw = _addresses(dec.dst_hi[rows], dec.dst_lo[rows])
        cids = _community_ids(
            src_raw,
            dst_raw,
            dec.ipver[rows] == 4,
            dec.proto[rows],
            dec.sport[rows],
            dec.dport[rows],
        )
        out = []
        for k, i in enumerate(rows.tolist()):
            flow = int(result.packet_flow[i])
            out.append(
                {
                    "@timestamp": _when(int(batch.ts[i])),
                    "source.ip": src_text[k],
                    "source.port": int(dec.sport[i]),
                    "destination.ip": dst_text[k],
                    "destination.port": int(dec.dport[i]),
                    "network.transport": "udp" if dec.proto[i] == UDP else "tcp",
                    "network.type": "ipv4" if dec.ipver[i] == 4 else "ipv6",
                    "network.community_id": cids[k],
                    "flow.id": f"{self.cid}-{flow}" if flow >= 0 else None,
                    "pcap.capture": self.cid,
                    "pcap.packet": int(batch.number[i]),
                    "_flow": flow,
                    "_ts": int(batch.ts[i]),
                }
            )
        return out

    def _parsed(
        self,
        result: BatchResult,
        rows: npt.NDArray[np.int64],
        protocol: str,
        parse: Callable[[bytes], dict[str, object]],
    ) -> Iterator[tuple[Event, dict[str, object]]]:
        """Each packet's network fields and its parsed payload; malformed ones counted."""
        batch, dec = result.batch, result.decoded
        for base, i in zip(self._network(result, rows), rows.tolist(), strict=True):
            start = int(dec.payload_off[i])
            payload = batch.buf[start : start + int(dec.payload_len[i])].tobytes()
            try:
                yield base, parse(payload)
            except Malformed as exc:
                where = f"{self.name} packet {base['pcap.packet']}"
                self.anomalies.add(f"{protocol}_malformed", where, str(exc))

    def _udp_dns(self, result: BatchResult, rows: npt.NDArray[np.int64]) -> list[Event]:
        from tocsin.pcap.proto.dns import parse_message

        done: list[Event] = []
        for base, fields in self._parsed(result, rows, "dns", parse_message):
            done += self._dns_message(base, fields)
        return done

    def _dns_message(self, base: Event, fields: dict[str, object]) -> list[Event]:
        """Pair a query with its answer; an answer alone stands for its transaction."""
        flow = int(base["_flow"])
        key = (flow, str(fields.get("dns.id")), str(fields.get("dns.question.name", "")))
        if fields.get("dns.type") == "query":
            event = {**base, **fields}
            previous = self._dns.pop(key, None)
            self._dns[key] = event
            self._by_flow.setdefault(flow, []).append(key)
            out = [previous] if previous is not None else []  # a retry: the first stands alone
            if len(self._dns) > MAX_PENDING_DNS:
                oldest = next(iter(self._dns))
                out.append(self._dns.pop(oldest))
            return [self._finish_dns(e) for e in out]
        query = self._dns.pop(key, None)
        if query is None:  # the answer without its query: the client is the receiver
            flipped = {
                **base,
                "source.ip": base["destination.ip"],
                "source.port": base["destination.port"],
                "destination.ip": base["source.ip"],
                "destination.port": base["source.port"],
                **fields,
            }
            return [self._finish_dns(flipped)]
        merged = {**query, **{k: v for k, v in fields.items() if k != "dns.header_flags"}}
        merged["dns.header_flags"] = fields.get("dns.header_flags")
        merged["event.duration"] = int(base["_ts"]) - int(query["_ts"])
        merged["pcap.packet_answer"] = base["pcap.packet"]
        return [self._finish_dns(merged)]

    def _finish_dns(self, event: Event) -> Event:
        event["event.dataset"] = "pcap.dns"
        event["event.category"] = ["network"]
        event["event.type"] = ["protocol"]
        event["network.protocol"] = "dns"
        event["client.ip"] = event["source.ip"]
        event["server.ip"] = event["destination.ip"]
        event["event.id"] = f"{self.prefix}-d{event['pcap.packet']}"
        event.pop("_flow", None)
        event.pop("_ts", None)
        return event

    # DHCP and ARP ---------------------------------------------------------------------------------
    def _per_packet(
        self,
        result: BatchResult,
        rows: npt.NDArray[np.int64],
        dataset: str,
        parse: Callable[[bytes], dict[str, object]],
    ) -> list[Event]:
        out: list[Event] = []
        protocol = dataset.split(".", 1)[1]
        for base, fields in self._parsed(result, rows, protocol, parse):
            base.pop("_flow", None)
            base.pop("_ts", None)
            event = {**base, **fields}
            event["event.dataset"] = dataset
            event["event.category"] = ["network"]
            event["event.type"] = ["protocol"]
            event["network.protocol"] = protocol
            event["event.id"] = f"{self.prefix}-{dataset[5]}{base['pcap.packet']}"
            out.append(event)
        return out

    def _arp(self, result: BatchResult, rows: npt.NDArray[np.int64]) -> list[Event]:
        from tocsin.pcap.proto.arp import parse_arp

        batch, dec = result.batch, result.decoded
        out: list[Event] = []
        for i in rows.tolist():
            start = int(dec.l3[i])
            end = int(batch.data_off[i] + batch.caplen[i])
            number = int(batch.number[i])
            try:
                fields = parse_arp(batch.buf[start:end].tobytes())
            except Malformed as exc:
                self.anomalies.add("arp_malformed", f"{self.name} packet {number}", str(exc))
                continue
            event = {
                "@timestamp": _when(int(batch.ts[i])),
                **fields,
                "event.dataset": "pcap.arp",
                "event.category": ["network"],
                "event.type": ["info"],
                "network.protocol": "arp",
                "pcap.capture": self.cid,
                "pcap.packet": number,
                "event.id": f"{self.prefix}-a{number}",
            }
            out.append(event)
        return out

    # TCP streams ---------------------------------------------------------------------------
    def _flows_ended(self, result: BatchResult) -> list[Event]:
        table = result.flows
        if table is None:
            return []
        ids = table.column("flow.id").to_pylist()
        seqs = [int(str(flow_id).rpartition("-")[2]) for flow_id in ids]
        events: list[Event] = []
        for seq in seqs:  # unanswered DNS queries of ended flows
            for key in self._by_flow.pop(seq, []):
                pending = self._dns.pop(key, None)
                if pending is not None:
                    events.append(self._finish_dns(pending))
        followed = self.streams.finish(seqs)
        if not followed or not self.dissectors:
            return events
        position = {seq: k for k, seq in enumerate(seqs)}
        columns = (
            "source.ip",
            "source.port",
            "destination.ip",
            "destination.port",
            "network.community_id",
            "flow.id",
            "@timestamp",
            "network.type",
        )
        rows = {c: table.column(c).to_pylist() for c in columns}
        for seq, streams in followed.items():
            k = position[seq]
            flow = {c: rows[c][k] for c in columns}
            client, server, _cut = client_server(streams, flow)  # assembled once per flow
            for name, dissect in self.dissectors.items():
                try:
                    events += dissect(client, server, flow)
                except Malformed as exc:
                    self.anomalies.add(
                        f"{name}_malformed", f"{self.name} flow {flow['flow.id']}", str(exc)
                    )
        return events

    def _tcp_dns(self, client: bytes, server: bytes, flow: dict[str, Any]) -> list[Event]:
        """DNS over TCP (zone transfers, large answers): the messages of both directions."""
        if 53 not in (flow["source.port"], flow["destination.port"]):
            return []
        from tocsin.pcap.proto.dns import parse_message, split_tcp

        queries: dict[str, Event] = {}
        out: list[Event] = []
        seq = str(flow["flow.id"]).rpartition("-")[2]
        base = self._flow_base(flow)
        messages = split_tcp(client)[0] + split_tcp(server)[0]
        for index, message in enumerate(messages):
            try:
                fields = parse_message(message)
            except Malformed as exc:
                self.anomalies.add("dns_malformed", f"{self.name} flow {flow['flow.id']}", str(exc))
                continue
            ident = str(fields.get("dns.id"))
            if fields.get("dns.type") == "query":
                queries[ident] = {**base, **fields, "_n": index}
                continue
            event = {**queries.pop(ident, base), **fields}
            out.append(self._tcp_dns_event(event, seq, index))
        out += [self._tcp_dns_event(q, seq, int(q["_n"])) for q in queries.values()]
        return out

    def _flow_base(self, flow: dict[str, Any]) -> Event:
        """The fields every event of a TCP flow shares: its addresses, ids and capture."""
        return {
            "@timestamp": flow["@timestamp"],
            "source.ip": flow["source.ip"],
            "source.port": flow["source.port"],
            "destination.ip": flow["destination.ip"],
            "destination.port": flow["destination.port"],
            "network.transport": "tcp",
            "network.type": flow["network.type"],
            "network.community_id": flow["network.community_id"],
            "flow.id": flow["flow.id"],
            "pcap.capture": self.cid,
        }

    def _tcp_http(self, client: bytes, server: bytes, flow: dict[str, Any]) -> list[Event]:
        """HTTP/1.x transactions, and the files their bodies carry."""
        if not client.startswith(HTTP_METHODS):
            return []
        from tocsin.pcap.proto.http import parse_http

        parsed = parse_http(client, server, max_body=self.stream_max_bytes)
        seq = str(flow["flow.id"]).rpartition("-")[2]
        base = self._flow_base(flow)
        out: list[Event] = []
        for k, tx in enumerate(parsed.transactions):
            fields = tx.fields(default_host=str(flow["destination.ip"]))
            event = {
                **base,
                **fields,
                "event.dataset": "pcap.http",
                "event.category": ["network", "web"],
                "event.type": ["protocol"],
                "network.protocol": "http",
                "event.id": f"{self.prefix}-h{seq}-{k}",
            }
            out.append(event)
            for j, found in enumerate(tx.files):
                out.append(
                    {
                        **base,
                        **found.fields(),
                        "url.full": fields.get("url.full"),
                        "http.request.method": fields.get("http.request.method"),
                        "file.direction": found.direction,
                        "file.truncated": found.truncated,
                        "event.dataset": "pcap.file",
                        "event.category": ["file", "network"],
                        "event.type": ["info"],
                        "network.protocol": "http",
                        "event.id": f"{self.prefix}-x{seq}-{k}-{j}",
                    }
                )
        return out

    def _tcp_tls(self, client: bytes, server: bytes, flow: dict[str, Any]) -> list[Event]:
        """The hellos of a TLS connection: SNI, versions, cipher, JA3, JA3S, JA4."""
        if not client.startswith(b"\x16\x03"):
            return []
        from tocsin.pcap.proto.tls import parse_client_hello, parse_server_hello, tls_fields

        hello = parse_client_hello(client)
        answer = parse_server_hello(server) if server.startswith(b"\x16\x03") else None
        if hello is None and answer is None:
            return []
        seq = str(flow["flow.id"]).rpartition("-")[2]
        return [
            {
                **self._flow_base(flow),
                **tls_fields(hello, answer),
                "event.dataset": "pcap.tls",
                "event.category": ["network"],
                "event.type": ["protocol"],
                "network.protocol": "tls",
                "event.id": f"{self.prefix}-s{seq}",
            }
        ]

    def _tcp_smtp(self, client: bytes, server: bytes, flow: dict[str, Any]) -> list[Event]:
        """SMTP envelopes and messages, and the attachments they carry."""
        if not server.startswith((b"220 ", b"220-")):
            return []
        from tocsin.pcap.proto.smtp import parse_smtp

        parsed = parse_smtp(client, server, max_message=self.stream_max_bytes)
        seq = str(flow["flow.id"]).rpartition("-")[2]
        base = {
            **self._flow_base(flow),
            "event.dataset": "pcap.smtp",
            "event.category": ["network", "email"],
            "event.type": ["protocol"],
            "network.protocol": "smtp",
        }
        if not parsed.transactions:
            return [{**base, **parsed.session_fields(), "event.id": f"{self.prefix}-m{seq}"}]
        out: list[Event] = []
        for k, tx in enumerate(parsed.transactions):
            fields = tx.fields()
            out.append({**base, **fields, "event.id": f"{self.prefix}-m{seq}-{k}"})
            for j, found in enumerate(tx.files):
                out.append(
                    {
                        **self._flow_base(flow),
                        **found.fields(),
                        "email.message_id": fields.get("email.message_id"),
                        "email.subject": fields.get("email.subject"),
                        "file.direction": found.direction,
                        "file.truncated": found.truncated,
                        "event.dataset": "pcap.file",
                        "event.category": ["file", "network"],
                        "event.type": ["info"],
                        "network.protocol": "smtp",
                        "event.id": f"{self.prefix}-y{seq}-{k}-{j}",
                    }
                )
        return out

    def _tcp_dns_event(self, event: Event, seq: str, index: int) -> Event:
        event.pop("_n", None)
        event["event.dataset"] = "pcap.dns"
        event["event.category"] = ["network"]
        event["event.type"] = ["protocol"]
        event["network.protocol"] = "dns"
        event["client.ip"] = event["source.ip"]
        event["server.ip"] = event["destination.ip"]
        event["event.id"] = f"{self.prefix}-t{seq}-{index}"
        return event


def _dhcp(payload: bytes) -> dict[str, object]:
    from tocsin.pcap.proto.dhcp import parse_dhcp

    return parse_dhcp(payload)


def client_server(streams: FlowStreams, flow: dict[str, Any]) -> tuple[bytes, bytes, bool]:
    """The originator's and the responder's bytes of a followed flow, and whether either is cut."""
    client = streams.streams.get((_mapped(str(flow["source.ip"])), int(flow["source.port"])))
    server = streams.streams.get(
        (_mapped(str(flow["destination.ip"])), int(flow["destination.port"]))
    )
    c_bytes, c_cut = client.assemble() if client else (b"", False)
    s_bytes, s_cut = server.assemble() if server else (b"", False)
    return c_bytes, s_bytes, c_cut or s_cut
