"""omni360: customer-data warehouse for retailers."""
