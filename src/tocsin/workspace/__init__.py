"""The workspace: the operations database (tokens and the import ledger for now)."""
