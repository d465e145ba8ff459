"""Raw layer: one asset per raw dataset (ingest/datasets), each loading one UTC day of its landing files."""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
import datetime as dt

from dagster import AssetExecutionContext, AssetsDefinition, Failure, MaterializeResult, MetadataValue

from ingest.datasets import DATASETS, MISSING_PER_BOOK_RULE, Dataset
from ingest.lake import current_snapshot
from ingest.loader import load_day
from ingest.sql import qualified, quote_ident
from orchestration.lib.daily import daily_asset
from orchestration.lib.metadata import ABSENT_BESIDE, load_metadata, preview
from orchestration.lib.partitions import days_in_window
from orchestration.lib.pools import WAREHOUSE_POOL
from orchestration.lib.resources import LandingZoneResource, WarehouseResource


def _load(
    context: AssetExecutionContext, warehouse: WarehouseResource, landing: LandingZoneResource, ds: Dataset
) -> MaterializeResult:
    days = days_in_window(context.partition_time_window)
    reports = []
    with warehouse.connect() as con:
        for i, day in enumerate(days, 1):
            context.log.info(f"loading {ds.name} for {day} ({i}/{len(days)})")
            kwargs = {"books": landing.books} if ds.missing == MISSING_PER_BOOK_RULE else {}
            try:
                fetched = landing.fetch_day(day)
                if fetched:
                    context.log.info(f"{len(fetched)} landing file(s) of {day} fetched from {landing.s3_url}")
                reports.append(load_day(con, landing.path, day, ds.name, **kwargs))
            except Exception as exc:
                raise partial_range_failure(ds.name, days, [r.day for r in reports], day, exc) from exc
        metadata = load_metadata(reports)
        # The snapshot this run's loads produced: pin it with `--as-of` / HistoricalData(as_of=...).
        metadata["lake_snapshot"] = current_snapshot(con)
        missing = [f"{r.day}: {ex}" for r in reports for ex in r.missing_book_files]
        if missing:
            # Allowed (trades-only exchanges), but visible: the book statistics of these days are NULL.
            context.log.warning(f"no book file (trades-only, book statistics NULL): {', '.join(missing)}")
            metadata["missing_book_files"] = MetadataValue.json(missing)
        absent = {str(r.day): r.absent_beside for r in reports if r.absent_beside}
        if absent:
            # Allowed (a quotes-only day), but visible; the suite's not_empty warns instead of blocking.
            context.log.warning(f"no {ds.family} file, beside other datasets' files: {absent}")
            metadata[ABSENT_BESIDE] = MetadataValue.json(absent)
        metadata["preview"] = preview(
            con,
            f"SELECT * EXCLUDE (source_file) FROM {qualified(*ds.table.split('.'))} "
            f"WHERE {quote_ident(ds.date_column)} = ? "
            "ORDER BY ts DESC LIMIT 5",
            [days[-1]],
        )
    return MaterializeResult(metadata=metadata)


def partial_range_failure(
    dataset: str, days: list[dt.date], committed: list[dt.date], failed: dt.date, exc: BaseException
) -> Failure:
    """A ranged load stopped at `failed`: say which days now hold new raw rows under old marts.

    Each day commits on its own (one snapshot a day), so the days before the failure keep their
    reload; the marts of the range are not rebuilt because this step failed. A rerun of the same
    range after fixing the cause reloads every day and rebuilds the marts: it converges.
    """
    rest = [d for d in days if d > failed]
    lines = [f"{dataset} for {failed} failed: {exc}"]
    if committed:
        lines.append(
            f"{len(committed)} day(s) before it were reloaded and committed ({committed[0]}..{committed[-1]}): "
            "their raw rows are newer than their marts until this range is rerun successfully"
        )
    if rest:
        lines.append(f"{len(rest)} day(s) not attempted ({rest[0]}..{rest[-1]})")
    return Failure(
        description="; ".join(lines),
        metadata={
            "failed_day": str(failed),
            "reloaded_days": [str(d) for d in committed],
            "not_attempted_days": [str(d) for d in rest],
            "error": f"{type(exc).__name__}: {exc}",
        },
    )


def _raw_asset(ds: Dataset) -> AssetsDefinition:
    """One day-partitioned raw table, loaded from the landing files of its dataset."""

    @daily_asset(
        name=ds.asset,
        group_name="raw",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        description=ds.description,
    )
    def _asset(
        context: AssetExecutionContext, warehouse: WarehouseResource, landing: LandingZoneResource
    ) -> MaterializeResult:
        return _load(context, warehouse, landing, ds)

    return _asset


RAW_ASSETS: tuple[AssetsDefinition, ...] = tuple(_raw_asset(d) for d in DATASETS)
_BY_NAME = {d.name: a for d, a in zip(DATASETS, RAW_ASSETS, strict=True)}
raw_trades = _BY_NAME["trades"]
raw_book_snapshots = _BY_NAME["book_snapshots"]
