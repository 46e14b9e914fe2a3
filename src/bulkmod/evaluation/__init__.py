"""Metrics, the results schema, tasks, benchmarks, evaluation against experiment, leaderboards and diagnosis.

Named splits live in :mod:`bulkmod.data.splits`; a task (:mod:`bulkmod.evaluation.tasks`) pairs a dataset with one
and knows what is special about the pair.
"""
