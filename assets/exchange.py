"""Assets of the `exchange` group: the registry snapshot the DCI API serves, and the subscribers' notifications."""

import os

import dagster as dg

from assets.analytics import MART_KEYS, published_marts
from dtsen.api import config as api_config
from dtsen.api import exchange, notify
from dtsen.api.store import Store
from orchestration.lib.partitions import monthly_partitions, one_month_per_run
from orchestration.lib.resources import DataResource


@dg.asset(
    key=["exchange", "registry_snapshot"],
    deps=[*MART_KEYS, published_marts],
    group_name="exchange",
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    kinds={"parquet"},
    pool="duckdb_writer",
    description="The month's DTSEN persons and families with desil, death, and programme eligibility and "
    "recipient status, as restricted Parquet (owner-only) under `exchange/<snapshot>/` below the "
    "data root: what `dtsen serve` (the DCI Social Registry API) answers from.",
)
def registry_snapshot(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    out = data.layout.exchange
    with data.connect(read_only=True) as con:
        counts = exchange.export(con, context.partition_key, out)
    return dg.MaterializeResult(
        metadata={
            "folder": dg.MetadataValue.path(os.path.join(out, context.partition_key)),
            **{k: dg.MetadataValue.int(v) for k, v in counts.items()},
        }
    )


@dg.asset(
    key=["exchange", "subscriber_notifications"],
    deps=[registry_snapshot],
    group_name="exchange",
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    kinds={"python"},
    description="What changed since the previous registry snapshot (deaths, moves, eligibility and recipient "
    "status, merged and split ids), POSTed to every matching subscription's /registry/notify "
    "with retries; deliveries that keep failing are dead letters (retried by the next run).",
)
def subscriber_notifications(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    cfg = api_config.load()
    store = Store(data.layout.api_state)
    try:
        summary = notify.notify_all(cfg, store, data.layout.exchange, context.partition_key)
        dead = store.dead_letters()
    finally:
        store.close()
    if summary["dead_letters"]:
        context.log.warning(
            f"{summary['dead_letters']} subscription(s) could not be notified: dead letters kept "
            f"in {data.layout.api_state} (retried by the next run)"
        )
    return dg.MaterializeResult(
        metadata={
            "previous_snapshot": summary["previous"] or "",
            "events": dg.MetadataValue.json(summary["events"]),
            "subscriptions": summary["subscriptions"],
            "delivered": summary["delivered"],
            "already_delivered": summary["already_delivered"],
            "nothing_to_send": summary["nothing_to_send"],
            "dead_letters": summary["dead_letters"],
            "dead_letter_table": dg.MetadataValue.json(
                [{k: d[k] for k in ("subscription_code", "snapshot", "attempt", "error")} for d in dead[-20:]]
            ),
        }
    )


defs = dg.Definitions(assets=[registry_snapshot, subscriber_notifications])
