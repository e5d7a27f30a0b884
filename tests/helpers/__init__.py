"""Test-only helpers: stand-in nnU-Net models and the real PACS services as local processes.

Not part of the product (the wheel ships body_organ_analysis/ only); the tests import them
as ``helpers.*`` (pytest puts tests/ on sys.path through tests/conftest.py).
"""
