"""The DNS part of the story: a workstation whose malware walks a DGA, and a DNS tunnel.

Both are written as the network sensor sees them (Zeek ``dns.log`` and the UDP flows in
``conn.log``), so ``tocsin dns hunt`` finds them the way it would on a real network: the DGA
host by its bursts of random-looking NXDOMAIN names, the tunnel by the many long, encoded,
distinct names it asks under one domain.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from tocsin.demo.common import DGA_IP, TUNNEL_DOMAIN, WEB_IP
from tocsin.demo.network import _NetworkLog
from tocsin.dns.dgagen import generate

DGA_FAMILY = "cryptolocker"
"""The generator (``tocsin.dns.dgagen``) the infected workstation's malware follows."""


class _DnsThreats(_NetworkLog):
    """Writes the DGA host's lookups and the tunnel's queries."""

    def dga_outbreak(self, host_ip: str, at: datetime) -> None:
        """Every few minutes for two hours, a burst of generated names; almost none resolve."""
        names = generate(DGA_FAMILY, at.date(), 400)
        when, index = at, 0
        stop = at + timedelta(hours=2)
        while when < stop and index < len(names):
            burst = self.rng.randint(15, 30)
            for name in names[index : index + burst]:
                # one of a few hundred names is registered: the malware's real rendezvous
                answers = [DGA_IP] if self.rng.random() < 0.01 else []
                self._dns(when, host_ip, name, answers)
                when = self._after(when, 0.05, 0.6)
            index += burst
            when = self._after(when, 240, 480)

    def dns_tunnel(self, at: datetime) -> None:
        """web01 sends a database dump out in base32 subdomains of TXT questions."""
        payload = bytes(self.rng.getrandbits(8) for _ in range(9000))
        encoded = base64.b32encode(payload).decode().rstrip("=").lower()
        chunk, when = 56, at
        for seq, start in enumerate(range(0, len(encoded), chunk)):
            piece = encoded[start : start + chunk]
            name = f"{piece[:28]}.{piece[28:]}.{seq:04x}.u.{TUNNEL_DOMAIN}".replace("..", ".")
            reply = f"ack{self.rng.getrandbits(32):08x}"
            self._dns(when, WEB_IP, name, [reply], qtype="TXT")
            when = self._after(when, 0.2, 1.2)
