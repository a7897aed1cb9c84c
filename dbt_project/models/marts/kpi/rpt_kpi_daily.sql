{{ order_kpis('order_date', 'order_date') }}
