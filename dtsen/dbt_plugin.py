"""dbt-duckdb plugin: defines the `pseudonym()` SQL function on dbt's DuckDB connection and on every cursor dbt
opens from it (a TEMP macro is visible to the connection that made it only).

The key is read from the environment inside this process, so it never appears in compiled SQL, dbt artifacts
or logs (see dtsen.privacy)."""

from dbt.adapters.duckdb.plugins import BasePlugin

from dtsen import privacy


class Plugin(BasePlugin):
    def configure_connection(self, conn):
        privacy.register(conn)

    def configure_cursor(self, cursor):
        privacy.register(cursor)
