"""Benchmarks: ``python -m benchmarks`` runs them all (see benchmarks/README.md); each
``bench_*`` module also runs alone as ``python -m benchmarks.NAME``."""
