"""Benchmark data: the pair schema, dataset sources and image resolution."""
