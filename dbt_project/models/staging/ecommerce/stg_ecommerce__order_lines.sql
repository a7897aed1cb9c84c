{{ stage_line_items(source('ecommerce', 'order_lines'), 'order_id') }}
