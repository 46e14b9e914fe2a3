"""Training entry points: whole-dataset fit and save, the checkpointing torch loop, Optuna tuning, config files."""
