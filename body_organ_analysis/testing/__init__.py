"""Helpers for tests and demos: stand-in models, synthetic data."""
