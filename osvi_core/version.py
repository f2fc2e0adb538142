"""The installed osvi-pipeline's version: from git when the wheel was built (setuptools-scm),
so every build of a new commit is a new version and `pip install` of it upgrades."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "osvi-pipeline"


def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"
