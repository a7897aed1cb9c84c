"""Raw ecommerce.order_lines against the contract, plus discounts within the line value."""

from expectations._shared import line_item_suites

SUITES = line_item_suites("ecommerce", "order_lines")
