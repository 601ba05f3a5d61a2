"""Odoo Point of Sale: paid orders and refunds as read over JSON-RPC, posted by an automated action,
signed as terminals sign."""
