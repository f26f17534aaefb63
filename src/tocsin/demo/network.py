"""The network sensor's records: Zeek ``conn.log`` and ``dns.log`` (TSV) and Suricata EVE JSON.

A flow with one end outside the organisation also gets a Suricata ``flow`` record; an alerted
flow adds an ``alert`` record with the same ``flow_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson

from tocsin.demo.common import DC_IP, _Address, _Base, _eve_time, _zeek_time

_UID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class _NetworkLog(_Base):
    """Builds Zeek rows and Suricata records."""

    def _conn(
        self,
        when: datetime,
        orig: _Address,
        resp: _Address,
        service: str,
        duration: float,
        sizes: tuple[int, int],
        *,
        proto: str = "tcp",
        alerted: bool = False,
    ) -> tuple[str, int]:
        """A Zeek conn.log row, and a Suricata flow when one end is outside; return both ids."""
        uid = "C" + "".join(self.rng.choices(_UID_CHARS, k=17))
        flow_id = self.rng.randrange(10**14, 2**51)
        sent, received = sizes
        orig_pkts = sent // 1200 + self.rng.randint(2, 6)
        resp_pkts = received // 1200 + self.rng.randint(2, 5)
        header = 40 if proto == "tcp" else 28
        local_orig, local_resp = orig[0].startswith("10."), resp[0].startswith("10.")
        orig_ip_bytes, resp_ip_bytes = sent + header * orig_pkts, received + header * resp_pkts
        row = (
            _zeek_time(when), uid, orig[0], orig[1], resp[0], resp[1], proto, service,
            f"{duration:.6f}", sent, received, "SF", "FT"[local_orig], "FT"[local_resp], 0,
            "ShADadFf" if proto == "tcp" else "Dd", orig_pkts, orig_ip_bytes, resp_pkts,
            resp_ip_bytes, "-",
        )  # fmt: skip
        self._line("conn", when, "\t".join(str(value) for value in row))
        if not (local_orig and local_resp):
            app = {"ssl": "tls", "http": "http", "ssh": "ssh", "dns": "dns"}.get(service, "failed")
            self._eve(when, flow_id, "flow", orig, resp, proto, {"app_proto": app, "flow": {
                "pkts_toserver": orig_pkts, "pkts_toclient": resp_pkts,
                "bytes_toserver": orig_ip_bytes, "bytes_toclient": resp_ip_bytes,
                "start": _eve_time(when), "end": _eve_time(when + timedelta(seconds=duration)),
                "age": int(duration), "state": "closed", "reason": "timeout", "alerted": alerted,
            }})  # fmt: skip
        return uid, flow_id

    def _eve(
        self,
        when: datetime,
        flow_id: int,
        event_type: str,
        orig: _Address,
        resp: _Address,
        proto: str,
        extra: dict[str, object],
    ) -> None:
        record: dict[str, object] = {
            "timestamp": _eve_time(when), "flow_id": flow_id, "in_iface": "ens192",
            "event_type": event_type, "src_ip": orig[0], "src_port": orig[1],
            "dest_ip": resp[0], "dest_port": resp[1], "proto": proto.upper(),
        }  # fmt: skip
        record.update(extra)
        self._line("eve", when, orjson.dumps(record).decode())

    def _alert(
        self,
        when: datetime,
        orig: _Address,
        resp: _Address,
        service: str,
        flow: tuple[float, tuple[int, int]],
        rule: tuple[int, str, str, int],
        extra: dict[str, object],
    ) -> None:
        """A flow that Suricata alerted on: the conn row, the flow and the alert."""
        duration, sizes = flow
        _uid, flow_id = self._conn(when, orig, resp, service, duration, sizes, alerted=True)
        sid, signature, category, severity = rule
        self._eve(when, flow_id, "alert", orig, resp, "tcp", {
            "pkt_src": "wire/pcap",
            "alert": {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 1,
                      "signature": signature, "category": category, "severity": severity},
            **extra, "direction": "to_server",
        })  # fmt: skip

    def _dns(
        self, when: datetime, client: str, name: str, answers: Sequence[str], *, qtype: str = "A"
    ) -> None:
        """A Zeek dns.log row and the conn.log row of its UDP exchange."""
        rtt, port = self.rng.uniform(0.0004, 0.04), self._port()
        sizes = (len(name) + 18, len(name) + 18 + 16 * len(answers))
        uid, _flow = self._conn(when, (client, port), (DC_IP, 53), "dns", rtt, sizes, proto="udp")
        rcode = ("0", "NOERROR") if answers else ("3", "NXDOMAIN")
        row = (
            _zeek_time(when), uid, client, str(port), DC_IP, "53", "udp",
            str(self.rng.randrange(65536)), f"{rtt:.6f}", name, "1", "C_INTERNET",
            {"A": "1", "SRV": "33", "TXT": "16"}[qtype], qtype, *rcode, "F", "F", "T", "T", "0",
            ",".join(answers) or "-", ",".join("300.000000" for _ in answers) or "-", "F",
        )  # fmt: skip
        self._line("dns", when, "\t".join(row))


_ZEEK_FIELDS = {
    "conn": (
        ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
        ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"),
        ("duration", "interval"), ("orig_bytes", "count"), ("resp_bytes", "count"),
        ("conn_state", "string"), ("local_orig", "bool"), ("local_resp", "bool"),
        ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"),
        ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
        ("tunnel_parents", "set[string]"),
    ),
    "dns": (
        ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
        ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("trans_id", "count"),
        ("rtt", "interval"), ("query", "string"), ("qclass", "count"),
        ("qclass_name", "string"), ("qtype", "count"), ("qtype_name", "string"),
        ("rcode", "count"), ("rcode_name", "string"), ("AA", "bool"), ("TC", "bool"),
        ("RD", "bool"), ("RA", "bool"), ("Z", "count"), ("answers", "vector[string]"),
        ("TTLs", "vector[interval]"), ("rejected", "bool"),
    ),
}  # fmt: skip
"""The columns of the Zeek logs written, with their types, as Zeek writes them."""


def _zeek_header(path: str, opened: datetime) -> str:
    fields = _ZEEK_FIELDS[path]
    return (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        f"#path\t{path}\n#open\t{opened:%Y-%m-%d-%H-%M-%S}\n"
        "#fields\t" + "\t".join(name for name, _ in fields) + "\n"
        "#types\t" + "\t".join(kind for _, kind in fields) + "\n"
    )
