"""dbt-duckdb plugin: registers the `pseudonym()` SQL function on dbt's DuckDB connection.

The key is read from the environment inside this process, so it never appears in compiled SQL, dbt artifacts
or logs (see dtsen.privacy)."""
from dbt.adapters.duckdb.plugins import BasePlugin

from dtsen import privacy


class Plugin(BasePlugin):
    def configure_connection(self, conn):
        privacy.register(conn)
