"""Training entry points (the torch loop with checkpoints arrives with the graph-network issue)."""
