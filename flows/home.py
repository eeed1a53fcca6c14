"""Where Prefect keeps this project's database, and how long its temporary server may take to start.

Set in the environment before Prefect is imported (Prefect reads its settings once, at import):

- PREFECT_HOME: the checkout's own `.prefect/` (gitignored), unless the user set PREFECT_HOME.
  A shared `~/.prefect` is migrated by whichever Prefect version starts first, and two first
  runs at once both migrated it and both failed; a per-project home holds only this project's
  runs, at this project's Prefect version. A profiles file the user keeps in `~/.prefect` is
  still read (PREFECT_PROFILES_PATH), so a profile's PREFECT_API_URL keeps working.
- PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 120 s instead of Prefect's 20, unless set.
  A first start migrates a new database; on a loaded machine that took longer than 20 s.

Outside a checkout (an installed package) Prefect's own default home is left as it is.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

HOME_DIR = ".prefect"
STARTUP_TIMEOUT_SECONDS = 120
STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


def checkout() -> Path | None:
    """The source checkout these flows run from, if they run from one."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "evidence").is_dir():
        return root
    return None


def configure(environ: MutableMapping[str, str] = os.environ) -> None:
    """Give Prefect the project's home and a start-up timeout, where the user chose neither."""
    root = checkout()
    if not environ.get("PREFECT_HOME") and root is not None:
        user_profiles = Path.home() / ".prefect" / "profiles.toml"
        if not environ.get("PREFECT_PROFILES_PATH") and user_profiles.is_file():
            environ["PREFECT_PROFILES_PATH"] = str(user_profiles)
        environ["PREFECT_HOME"] = str(root / HOME_DIR)
    if not environ.get(STARTUP_TIMEOUT_ENV):
        environ[STARTUP_TIMEOUT_ENV] = str(STARTUP_TIMEOUT_SECONDS)
