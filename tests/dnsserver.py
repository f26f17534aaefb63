"""A tiny authoritative DNS server on 127.0.0.1 (UDP) for tests of the real resolver path.

Records are ``(name, TYPE) -> [value, ...]``; TXT values are given as plain text and sent as
strings of at most 200 bytes (long DKIM keys need several). A name with no record of the asked
type answers NODATA, an unknown name NXDOMAIN; ``silent`` drops every query (a dead server).
"""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


def zone(lines: list[str]) -> dict[tuple[str, str], list[str]]:
    """Records from ``name TYPE value`` lines (TXT values in zone-file quotes)."""
    records: dict[tuple[str, str], list[str]] = {}
    for line in lines:
        name, rtype, value = line.split(" ", 2)
        if rtype == "TXT":
            value = "".join(part for part in value.split('"') if part.strip())
        records.setdefault((name.lower().rstrip("."), rtype), []).append(value)
    return records


class ZoneServer:
    """Answers from ``records`` in a thread until the ``with`` block ends."""

    def __init__(self, records: dict[tuple[str, str], list[str]], *, silent: bool = False):
        self.records = records
        self.names = {name for name, _ in records}
        self.silent = silent
        self.queries: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ZoneServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True).lower()
            rtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rtype))
            if self.silent:
                continue
            response = dns.message.make_response(query)
            values = self.records.get((name, rtype))
            if values:
                texts = [
                    " ".join(f'"{v[i : i + 200]}"' for i in range(0, len(v), 200))
                    if rtype == "TXT"
                    else v
                    for v in values
                ]
                response.answer.append(dns.rrset.from_text(question.name, 300, "IN", rtype, *texts))
            elif name not in self.names:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)
