"""Rate limits on guessing: login and TOTP code attempts per client address and per user (the `limits`
library, moving window). On top of the account lockout (identity/service.py), which counts failures in the
database: the limit here stops a fast guesser before argon2 spends CPU on every guess.

The counters live in `SPOEDPLEIN_RATE_LIMIT_STORAGE` (default `memory://`, per process; with several
HTTP processes or machines use `redis://…` so they share one count).
"""

from __future__ import annotations

from functools import lru_cache

from limits import RateLimitItem, parse, storage, strategies

from core.runtime import Runtime


@lru_cache(maxsize=8)
def _limiter(uri: str) -> strategies.MovingWindowRateLimiter:
    return strategies.MovingWindowRateLimiter(storage.storage_from_string(uri))


@lru_cache(maxsize=32)
def _item(text: str) -> RateLimitItem:
    return parse(text)


def login_allowed(runtime: Runtime, *, client: str, username: str) -> bool:
    """Count one login attempt; False when the client or the username is over its limit."""
    settings = runtime.settings
    limiter = _limiter(settings.rate_limit_storage)
    by_client = limiter.hit(_item(settings.login_rate_per_client), "login-client", client or "-")
    by_user = limiter.hit(_item(settings.login_rate_per_user), "login-user", username.lower()[:100])
    return by_client and by_user


def code_allowed(runtime: Runtime, *, client: str, user_id: int) -> bool:
    """Count one TOTP code attempt; False when the client or the user is over its limit (the login
    limits: a code is the second half of a login)."""
    settings = runtime.settings
    limiter = _limiter(settings.rate_limit_storage)
    by_client = limiter.hit(_item(settings.login_rate_per_client), "code-client", client or "-")
    by_user = limiter.hit(_item(settings.login_rate_per_user), "code-user", str(user_id))
    return by_client and by_user
