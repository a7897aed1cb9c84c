{{ stage_line_items(source('pos', 'transaction_lines'), 'transaction_id') }}
