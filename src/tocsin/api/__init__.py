"""The REST API (the only package that imports FastAPI)."""
