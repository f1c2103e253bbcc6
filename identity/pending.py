"""The login in progress, carried by the browser between the redirect to a provider and its callback.

A short-lived cookie, AES-GCM encrypted with the field key (associated data names its purpose, so no
other ciphertext of ours passes for it): the state, nonce and PKCE verifier never show in the browser,
and the callback accepts only the `state` this browser was sent away with (login CSRF). `SameSite=Lax`
because the provider's redirect back is a cross-site top-level navigation, which a Strict cookie would
miss; it lives ten minutes and is deleted at the callback, whatever the outcome.

Failure modes: a missing, altered, expired or foreign cookie, or a `state` that differs, all read as
`None` from `take`: the caller shows "start again" and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time

from fastapi import Request, Response

from identity.oidc import PendingLogin
from store.crypto import DecryptionError, FieldCipher

COOKIE_NAME = "spoedplein_aanmelding"
MAX_AGE_S = 600
_AAD = b"identity:pending-login"


def _secure(request: Request, public_base_url: str | None) -> bool:
    return request.url.scheme == "https" or (public_base_url or "").startswith("https://")


def keep(
    response: Response,
    request: Request,
    cipher: FieldCipher,
    pending: PendingLogin,
    *,
    public_base_url: str | None,
) -> None:
    """Set the cookie that lets `take` finish this login."""
    body = json.dumps(
        {
            "s": pending.state,
            "n": pending.nonce,
            "v": pending.code_verifier,
            "t": pending.started_at,
            "x": pending.extra,
        }
    ).encode()
    value = base64.urlsafe_b64encode(cipher.encrypt(body, _AAD)).decode()
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request, public_base_url),
    )


def take(
    request: Request, cipher: FieldCipher, state: str, *, now: float | None = None
) -> PendingLogin | None:
    """The login this browser started, if the callback's `state` is its state and it is fresh."""
    raw = request.cookies.get(COOKIE_NAME)
    if not raw or not state:
        return None
    try:
        data = json.loads(cipher.decrypt(base64.urlsafe_b64decode(raw.encode()), _AAD))
        pending = PendingLogin(
            state=str(data["s"]),
            nonce=str(data["n"]),
            code_verifier=str(data["v"]),
            started_at=float(data["t"]),
            extra={str(k): str(v) for k, v in dict(data["x"]).items()},
        )
    except (DecryptionError, binascii.Error, ValueError, KeyError, TypeError):
        return None
    if not hmac.compare_digest(pending.state.encode(), state.encode()):
        return None
    if (now if now is not None else time.time()) - pending.started_at > MAX_AGE_S:
        return None
    return pending


def forget(response: Response) -> None:
    """Delete the cookie: a login's state is used once."""
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")


# --- the second step of a local login (TOTP) -------------------------------------------------------------

SECOND_STEP_COOKIE = "spoedplein_tweede_stap"
SECOND_STEP_MAX_AGE_S = 300
_SECOND_AAD = b"identity:second-step"


def keep_second_step(
    response: Response,
    request: Request,
    cipher: FieldCipher,
    *,
    user_id: int,
    next_path: str,
    public_base_url: str | None,
) -> None:
    """The password was right and a code is asked: the browser carries who (encrypted, five minutes) to
    the code form's answer. No session exists until the code is right too."""
    body = json.dumps({"u": user_id, "t": time.time(), "n": next_path}).encode()
    response.set_cookie(
        SECOND_STEP_COOKIE,
        base64.urlsafe_b64encode(cipher.encrypt(body, _SECOND_AAD)).decode(),
        max_age=SECOND_STEP_MAX_AGE_S,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request, public_base_url),
    )


def take_second_step(
    request: Request, cipher: FieldCipher, *, now: float | None = None
) -> tuple[int, str] | None:
    """(user id, where to go after) of a login waiting for its code, if fresh; else None."""
    raw = request.cookies.get(SECOND_STEP_COOKIE)
    if not raw or len(raw) > 1000:
        return None
    try:
        data = json.loads(cipher.decrypt(base64.urlsafe_b64decode(raw.encode()), _SECOND_AAD))
        user_id, started, next_path = int(data["u"]), float(data["t"]), str(data["n"])
    except (DecryptionError, binascii.Error, ValueError, KeyError, TypeError):
        return None
    if (now if now is not None else time.time()) - started > SECOND_STEP_MAX_AGE_S:
        return None
    return user_id, next_path


def forget_second_step(response: Response) -> None:
    response.delete_cookie(SECOND_STEP_COOKIE, path="/login", httponly=True, samesite="strict")
