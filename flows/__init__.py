"""Prefect flows: thin wiring of the library's steps.

The pipeline runs offline by default, so Prefect's server is told not to phone home. Prefect's
home and start-up timeout are set here, before anything imports Prefect (see `flows.home`).
"""

import os

from flows import home

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "evidence")  # library warnings in run logs
home.configure()
