"""What a reader needs to reproduce a run: versions, input hashes, the literature search."""

from __future__ import annotations

from importlib import metadata

PACKAGES = (
    "evidence",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "biopython",
    "matplotlib",
    "jinja2",
    "pyyaml",
    "pydantic",
    "prefect",
)


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
