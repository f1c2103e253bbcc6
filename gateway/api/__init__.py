"""HTTP routes of the gateway itself (health, messages, presentations); domains bring their own routers."""
