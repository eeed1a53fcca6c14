"""Prefect flows: thin wiring of the library's steps.

The pipeline runs offline by default, so Prefect's server is told not to phone home.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "evidence")  # library warnings in run logs
