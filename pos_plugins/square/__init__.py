"""Square: completed orders and refunds arrive by Square's webhooks; the order's lines are read from the Orders API."""
