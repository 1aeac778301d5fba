"""Voice domain: catalog, speech, orders and recommendations."""
