"""Fakes at public seams, for tests, benchmarks, the demo and plugin authors."""
