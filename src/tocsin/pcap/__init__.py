"""Packets: read pcap and pcapng captures, build flows and protocol metadata, index packets.

The reader walks capture records and decodes headers in bulk with numpy (``capture``,
``decode``); flows are folded per batch (``flows``); only the packets a protocol needs are
dissected one by one (``proto``). ``tocsin pcap`` is the command line.
"""
