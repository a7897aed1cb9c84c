{{ order_kpis(dbt.date_trunc('week', 'order_date'), 'week_start') }}
