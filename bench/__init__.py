"""Benchmarks (not tests): run with ``make bench``; results go to docs/benchmarks.md."""
