"""The Spark engine (docs/spark.md): a Spark Connect server in front of a local or standalone
cluster, the session dbt and the Python steps reach it through, the lake's tables and the
omni360_* functions registered in that session."""
