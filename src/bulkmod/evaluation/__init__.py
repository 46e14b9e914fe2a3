"""Splits in use, metrics, the results schema, benchmarks and diagnosis."""
