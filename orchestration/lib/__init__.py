"""What every domain's Dagster definitions build on, below the assets: partitions, resources, the dbt project and
its translator, metadata helpers, sensor cursors and the sources' asset keys. Imports nothing of `assets/` or of the
layers above it."""
