"""Sigma detection: rule loading with pySigma (parsing and validation only; matching is ours)."""
