"""evidence: a living evidence-synthesis pipeline.

Kept import-light on purpose: the CLI imports only what each command needs.
"""

__version__ = "0.1.0"
