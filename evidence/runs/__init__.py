"""Where a run reads and writes, one at a time, its outputs published whole and kept.

- `workspace`: the folders a run reads and writes
- `runlock`: one run at a time per protocol's outputs
- `outputs`, `exchange`: a run's outputs made visible all at once, nothing else deleted
- `history`: every run's outputs under `runs/<run-id>/`, and what changed between two runs
"""
