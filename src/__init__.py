"""Voice API: take merchant orders by voice."""
