"""Shopify (and Shopify POS): orders and refunds arrive by Shopify's webhooks, signed with the app's secret."""
