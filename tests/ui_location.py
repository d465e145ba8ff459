"""A code location for tests that load the project's definitions through Dagster's own loader.

`orchestration.definitions.defs` is built when that module is first imported, with the
`TICKWH_*` environment of that moment. A test that points a Dagster workspace at a temporary
warehouse needs the definitions built with *its* environment, so the loader calls `defs()`
(Dagster invokes a zero-argument callable it is pointed at) each time it loads the location.
"""

from __future__ import annotations

from dagster import Definitions

from orchestration.definitions import build_defs


def defs() -> Definitions:
    return build_defs()
