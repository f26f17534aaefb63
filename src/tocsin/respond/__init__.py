"""Responding to what the workspace finds: notifications now (email, webhook, Slack, Teams).

The workspace queues notifications in its outbox (``tocsin.workspace.notify``); this package
delivers them with retries. Imports point one way: ``respond`` uses the workspace, never the
reverse.
"""
