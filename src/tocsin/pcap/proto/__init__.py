"""Application-layer dissectors: pure functions from bytes to fields.

They know nothing of packets, flows or the lake: the importer hands them one UDP payload, or the
reassembled bytes of one TCP direction (capped), and turns what they return into events. Input is
attacker-controlled, so a dissector either returns what it could read or raises :class:`Malformed`;
no other exception may escape.
"""

from __future__ import annotations


class Malformed(ValueError):
    """Protocol data that cannot be read; the message says what and where (byte offset)."""
