"""Build the static documentation sites under $TICKWH_HOME/docs (dbt docs: models, columns, lineage)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ingest import args as rules
from ingest.args import Parser
from ingest.lake import LakeConfig
from ingest.logs import heartbeat, setup_logging
from ingest.settings import DBT_PROJECT_DIR, Settings, dbt_executable

log = logging.getLogger(__name__)


def build_dbt_docs(settings: Settings | None = None) -> Path:
    """`dbt docs generate` into docs/dbt; returns the index.html path."""
    settings = settings or Settings.from_env()
    out = settings.docs_dir / "dbt"
    target = settings.home / "dbt_docs_target"
    env = LakeConfig.from_settings(settings).env()
    # Start from the project's parse state (same profile and env as the runs), so dbt re-parses only
    # what changed instead of "Unable to do partial parsing because saved manifest not found".
    target.mkdir(parents=True, exist_ok=True)
    state = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if state.exists():
        shutil.copy2(state, target / state.name)
    log.info("building the dbt docs (dbt docs generate: parse, compile, catalog)")
    with heartbeat(log, "building the dbt docs"):
        subprocess.run(
            [dbt_executable(), "docs", "generate", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target)],
            check=True,
            env={**os.environ, **env},
            cwd=DBT_PROJECT_DIR,
        )
    out.mkdir(parents=True, exist_ok=True)
    for name in ("index.html", "manifest.json", "catalog.json"):
        shutil.copy2(target / name, out / name)
    log.info("dbt docs written to %s", out / "index.html")
    return out / "index.html"


def build_ge_docs(days: Sequence[dt.date] | None = None, max_days: int = 3) -> Path:
    """Great Expectations Data Docs into docs/ge beside the dbt docs: every suite in
    expectations/ and its results over `days` (default: the latest `max_days` loaded days)."""
    from ingest.quality.docs import build_ge_docs as render

    settings = Settings.from_env()
    return render(LakeConfig.from_settings(settings), settings.docs_dir / "ge", days=days, max_days=max_days)


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(
        prog="tickwh docs",
        description="Build the dbt docs (models, columns, lineage) and the Great Expectations Data Docs "
        "under $TICKWH_HOME/docs; serve them with `make docs-serve`.",
    )
    parser.add_argument("--ge-days", type=rules.arg(rules.bounded_int(1, 366)), default=3,
                        help="GE results over the latest N loaded days (1 to 366)")
    args = parser.parse_args(argv)
    setup_logging()
    index = build_dbt_docs()
    print(f"dbt docs: {index}  (serve with `make docs-serve`)")
    ge_index = build_ge_docs(max_days=args.ge_days)
    print(f"GE docs : {ge_index}  (http://127.0.0.1:8580/ge/index.html under `make docs-serve`)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
