"""Helpers for the fault tests (the SeaweedFS fixtures `seaweed` / `s3_credentials` are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path


def files_under(root: Path) -> set[str]:
    """Every file below `root`, relative: compared before and after a hostile input to prove nothing escaped."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
