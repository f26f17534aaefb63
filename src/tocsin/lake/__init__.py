"""The event lake: Parquet writer, compaction, retention, and search with DuckDB."""
