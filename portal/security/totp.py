"""TOTP second factor (RFC 6238 via pyotp) with replay protection and recovery codes."""

from __future__ import annotations

import secrets
import time

import pyotp
import segno

from portal.security.tokens import sha256_hex

ISSUER = "Portal"
RECOVERY_CODE_COUNT = 10


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")  # type: ignore[no-any-return]


def matching_step(secret: str, code: str, *, now: float | None = None, last_step: int | None = None) -> int | None:
    """The time step `code` belongs to (±1 step of drift), or None; steps ≤ last_step are replays."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    now = time.time() if now is None else now
    totp = pyotp.TOTP(secret)
    step_now = int(now // totp.interval)
    for step in (step_now - 1, step_now, step_now + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            if last_step is not None and step <= last_step:
                return None
            return step
    return None


def new_recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODE_COUNT)]


def hash_recovery_code(code: str) -> str:
    return sha256_hex(code.strip().lower())
