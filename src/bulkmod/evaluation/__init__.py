"""Metrics, the results schema, benchmarks, evaluation against experiment, leaderboards and diagnosis.

Named splits live in :mod:`bulkmod.data.splits`.
"""
