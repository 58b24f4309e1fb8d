"""Partitions: registry deliveries and monthly runs are keyed by month (YYYY-MM)."""
import dagster as dg

# end_offset=1 makes the current month a valid partition (a delivery can arrive before the month ends)
monthly_partitions = dg.MonthlyPartitionsDefinition(start_date="2020-01", fmt="%Y-%m", end_offset=1)

# every partitioned asset (Python and dbt) runs one month per run: the pipeline builds one snapshot at a time
one_month_per_run = dg.BackfillPolicy.multi_run(1)
