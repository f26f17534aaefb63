"""Tocsin: an open-source SecOps platform."""

__version__ = "0.1.0"
