"""Auth domain: API clients, access and refresh tokens, scopes."""
