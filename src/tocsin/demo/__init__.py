"""The demo: a realistic intrusion scenario that the project generates itself."""
