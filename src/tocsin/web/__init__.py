"""The console: templates, static files, and the helpers that render them (no FastAPI)."""
