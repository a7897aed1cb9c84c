"""omni360: customer-data warehouse for retailers."""

import warnings

# pyspark (imported by Great Expectations whenever it is installed, and by the Spark engine)
# warns on import and on every session that it does not "fully support" pandas 3. omni360's
# Spark UDFs take and return Arrow arrays, not pandas, and the Spark engine's results are tested
# equal to DuckDB's (docs/spark.md): the warning says nothing a user can act on.
warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
