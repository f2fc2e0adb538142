"""`campaign_flags`: each campaign-day against its trailing week, flagged when it matters."""

from pathlib import Path

import dagster as dg

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions, WarehouseDuckDB
from osvi_pipeline.warehouse.campaign_flags import build_campaign_flags
from osvi_pipeline.warehouse.queries import scalar
from osvi_pipeline.warehouse.retention import overlay_retained

FLAGGED_TODAY = "select count(*) from campaign_flags where flagged"


@dg.asset(deps=["campaign_daily", "campaign_outcomes", "campaign_field_rates", "daily_summary",
                "campaign_fill_rates"],
          kinds={"duckdb"}, pool=WAREHOUSE_POOL, group_name="marts",
          description="Grain: call_date x campaign x metric (calls, reach_rate, "
                      "share:<condition>, true_rate:<boolean field>, fill_rate:<field>, "
                      "silent). Each day against the campaign's 7 days before: value, "
                      "baseline, 95% interval, significant (two-proportion or Poisson z-test, "
                      "minimum counts) and flagged (still significant after the day's "
                      "false-discovery-rate control, OSVI_FLAG_FDR, and large enough: "
                      "OSVI_FLAG_MIN_*).")
def campaign_flags(duckdb: WarehouseDuckDB,
                   osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
    with duckdb.get_connection() as con:
        built = build_campaign_flags(con, osvi.flag_rules)
        overlay_retained(con, "campaign_flags", Path(osvi.retained_dir))
        flagged = int(scalar(con, FLAGGED_TODAY))
    days = f"{built.judged_days} day{'' if built.judged_days == 1 else 's'}"
    judged = ("every day" if built.judged_from is None and built.judged_days
              else f"{days} from {built.judged_from}" if built.judged_from
              else "none (no call changed)")
    return dg.MaterializeResult(metadata={"rows": dg.MetadataValue.int(built.rows),
                                          "flagged": dg.MetadataValue.int(flagged),
                                          "judged": dg.MetadataValue.text(judged)})
