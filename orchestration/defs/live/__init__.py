"""The live path in Dagster: JetStream -> hot tier loads, driven by a sensor, and the end-of-day check.

The feed handler (`python -m ingest.feed`) runs outside Dagster: it is a long-lived process
that must keep up with the exchange whatever the orchestrator does. Dagster owns what can be
scheduled, retried and audited:

* `hot_load_sensor` asks for each new range of JetStream sequences once (`run_key`
  `hot-<first>-<last>`), in bounded slices so a backlog becomes several runs rather than one
  huge one. Its cursor keeps the ranges requested but not yet landed: a range whose run failed
  is requested again (`hot-<first>-<last>-retry<n>`) on the next tick, and the "landed" mark
  advances only past ranges whose run succeeded;
* `hot_load` loads exactly that range into the ClickHouse hot tier, idempotently (see
  `ingest.hot.load`), so re-executing a failed or doubtful run is always safe;
* `hot_tier_matches_warm` reconciles the hot tier with `raw.trades` once the vendor file of
  the day is loaded. Severity WARN: the hot tier only keeps its retention window.

The sensor is STOPPED by default because it needs a NATS server; see docs/live.md.
"""

