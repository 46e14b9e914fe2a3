"""Training entry points: whole-dataset fit and save, Optuna tuning, config files.

The checkpointing torch loop is not here: it lives beside the graph models that use it
(:mod:`bulkmod.models.gnn.trainer`), since an estimator's ``fit`` may not import a layer above the models.
"""
