"""Benchmarks of the course: ``python -m bench.translate`` trains and scores every translator."""
