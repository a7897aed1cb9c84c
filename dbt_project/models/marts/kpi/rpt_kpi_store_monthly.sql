{{ order_kpis(dbt.date_trunc('month', 'order_date'), 'month_start') }}
