"""Core: settings, errors, the event envelope, schema, ids, plugin registry and scheduler."""
