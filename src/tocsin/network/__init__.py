"""Network analytics: beacons, long connections, scans, exfiltration, rare fingerprints, indicators.

Every connection record in the lake counts, whatever produced it (Zeek ``conn.log``, Suricata
``flow``, ``pcap.flow`` from imported captures, firewall logs): the detectors read the ECS network
fields that the normalisers fill (ARCHITECTURE.md section 3) and raise ``net.*`` alerts.
"""
