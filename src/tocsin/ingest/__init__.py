"""Ingest: sources, parsers, normalisers, the durable spool and the quarantine."""
