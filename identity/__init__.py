"""Real people: users and roles, local passwords, API tokens per person and integration, login sessions."""
