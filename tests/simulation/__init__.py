"""Deterministic simulation tests: seeded workloads with faults, checked against a model."""
