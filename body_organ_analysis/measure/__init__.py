"""Organ measurements: structure statistics, CNR, contrast phase, bone density."""
