"""Who may call the API: users, projects, memberships, API keys, login and refresh tokens, and the authenticator the
gateway's middleware asks on every request."""
