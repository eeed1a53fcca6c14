"""Around a run: the folders it uses, one run at a time, outputs published whole, every run kept.

- `workspace`: the folders a run reads and writes
- `runlock`: one run at a time per protocol's outputs
- `outputs`, `exchange`: a run's outputs made visible all at once, nothing else deleted
- `history`: every run's outputs under `runs/<run-id>/`, and what changed between two runs
"""
