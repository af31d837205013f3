"""Account rules: registration, verification, sign-in, passwords, profiles, colleagues, 2FA.

Functions take the session and keyword arguments, never commit, raise domain errors, and
record a `contact.upserted` outbox event for every change the CRM must know about.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import events
from portal.accounts import forms
from portal.accounts.models import Account, AccountKind, Invitation, Role, User
from portal.db import utcnow
from portal.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from portal.mail.service import Mailing, queue_email
from portal.security import ratelimit, sessions, totp
from portal.security.audit import audit
from portal.security.passwords import hash_password, needs_rehash, verify_password
from portal.security.tokens import InvalidToken, LinkSigner, random_token, sha256_hex

VERIFY_MAX_AGE_S = 3 * 24 * 3600
RESET_MAX_AGE_S = 60 * 60
INVITE_DAYS = 7


# -- events -------------------------------------------------------------------------------
def contact_payload(user: User) -> dict[str, object]:
    return {
        "external_id": user.external_id,
        "account_id": user.account_id,
        "email": user.email,
        "name": user.name,
        "locale": user.locale,
        "role": user.role.value if user.role is not Role.ADMIN else "staff",
        "active": user.is_active,
        "created_at": user.created_at.isoformat(),
    }


def _changed(db: Session, user: User, *, new: bool = False) -> None:
    """Bump the user's version and record the contact for the CRM (in this transaction)."""
    if not new:
        user.version += 1
    db.flush()
    events.record(
        db,
        events.Event(
            aggregate_type="contact",
            aggregate_id=user.external_id,
            seq=user.version,
            type="contact.upserted",
            payload=contact_payload(user),
        ),
    )


# -- lookups ------------------------------------------------------------------------------
def find_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(User.email == email.strip().lower()))


def get_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


def apply_crm_account(db: Session, *, account_id: str, kind: str, name: str, tier: str | None, country: str | None) -> Account:
    """Upsert the portal's read copy of a CRM account (used by the puller and the demo)."""
    account = db.get(Account, account_id)
    if account is None:
        account = Account(account_id=account_id, kind=AccountKind(kind), name=name, tier=tier, country=country, updated_at=utcnow())
        db.add(account)
    elif (account.kind.value, account.name, account.tier, account.country) != (kind, name, tier, country):
        account.kind, account.name, account.tier, account.country = AccountKind(kind), name, tier, country
        account.updated_at = utcnow()
    return account


# -- creating users -------------------------------------------------------------------------
def create_user(
    db: Session,
    *,
    email: str,
    password: str | None,
    role: Role,
    name: str = "",
    account_id: str | None = None,
    locale: str = "en",
    verified: bool = False,
) -> User:
    """Create a user (raises Conflict if the e-mail is taken, NotFound for an unknown account)."""
    email = forms.clean_email(email)
    if find_by_email(db, email):
        raise Conflict("A user with this e-mail address already exists.")
    if account_id is not None:
        account = db.get(Account, account_id)
        if account is None:
            raise NotFound(f"account {account_id}")
    now = utcnow()
    user = User(
        email=email,
        name=forms.clean_name(name, required=False),
        password_hash=hash_password(password) if password else None,
        role=role,
        account_id=account_id,
        locale=locale,
        is_active=True,
        email_verified_at=now if verified else None,
        created_at=now,
        password_changed_at=now if password else None,
        recovery_code_hashes=[],
        version=1,
    )
    db.add(user)
    _changed(db, user, new=True)
    return user


def register_customer(
    db: Session, mailing: Mailing, *, email: str, password: str, password_confirm: str, name: str, locale: str, ip: str
) -> None:
    """Register a consumer; the answer is the same whether or not the e-mail is known.

    A known address gets an e-mail saying someone tried to register with it (so the owner
    learns, and an attacker learns nothing). Raises Invalid for bad input, RateLimited.
    """
    values = forms.validate(
        email=lambda: forms.clean_email(email),
        name=lambda: forms.clean_name(name),
        password=lambda: forms.clean_new_password(password, password_confirm, email=email),
    )
    ratelimit.hit(db, ratelimit.EMAIL_ACTION_IP, f"register:{ip}")
    existing = find_by_email(db, values["email"])
    if existing is not None:
        # Same cost as a new registration, so timing does not tell that the address is known.
        hash_password(values["password"])
        if not _under_mail_cap(db, f"register:{existing.id}"):
            audit(db, "register.existing_email_capped", target=existing.email, ip=ip)
            return
        queue_email(
            db,
            mailing.composer,
            to=existing.email,
            template="account_exists",
            locale=existing.locale,
            context={"name": existing.display_name, "login_url": mailing.link("/login"), "reset_url": mailing.link("/password/forgot")},
        )
        audit(db, "register.existing_email", target=existing.email, ip=ip)
        return
    user = create_user(db, email=values["email"], password=values["password"], role=Role.CUSTOMER, name=values["name"], locale=locale)
    send_verification(db, mailing, user=user)
    audit(db, "register", actor_user_id=user.id, actor_email=user.email, ip=ip)


def send_verification(db: Session, mailing: Mailing, *, user: User) -> None:
    token = mailing.signer.sign("verify-email", {"u": user.id, "e": user.email})
    queue_email(
        db,
        mailing.composer,
        to=user.email,
        template="verify_email",
        locale=user.locale,
        context={"name": user.display_name, "verify_url": mailing.link(f"/verify-email?token={token}")},
    )


def resend_verification(db: Session, mailing: Mailing, *, email: str, ip: str) -> None:
    """Same answer for every address; sends only for an unverified user."""
    ratelimit.hit(db, ratelimit.EMAIL_ACTION_IP, f"resend:{ip}")
    try:
        email = forms.clean_email(email)
    except Invalid:
        return
    user = find_by_email(db, email)
    if user is not None and user.email_verified_at is None and user.is_active and _under_mail_cap(db, f"resend:{user.id}"):
        send_verification(db, mailing, user=user)


def _under_mail_cap(db: Session, key: str) -> bool:
    """Count one mail to an address; past the cap send nothing, yet answer as usual: a 429
    here would tell that the address has an account."""
    try:
        ratelimit.hit(db, ratelimit.EMAIL_ACTION_TARGET, key)
    except RateLimited:
        return False
    return True


def verify_email(db: Session, signer: LinkSigner, *, token: str) -> User:
    """Mark the address verified. Raises Invalid for a bad, expired or stale link."""
    try:
        payload = signer.unsign("verify-email", token, max_age_s=VERIFY_MAX_AGE_S)
        user = db.get(User, int(payload["u"]))
    except (InvalidToken, KeyError, TypeError, ValueError):
        raise Invalid("token", "This link is invalid or has expired.") from None
    if user is None or user.email != payload.get("e") or not user.is_active:
        raise Invalid("token", "This link is invalid or has expired.")
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        _changed(db, user)
        audit(db, "email.verified", actor_user_id=user.id, actor_email=user.email)
    return user


# -- signing in -------------------------------------------------------------------------------
class LoginFailed(Invalid):
    def __init__(self) -> None:
        super().__init__("email", "The e-mail address or password is not right.")


class EmailNotVerified(Invalid):
    def __init__(self) -> None:
        super().__init__("email", "Please verify your e-mail address first. We can send the link again.")


def authenticate(db: Session, *, email: str, password: str, ip: str) -> User:
    """The user for these credentials, or LoginFailed (same answer for unknown e-mail and
    wrong password, at the same cost). Rate-limited per address+account, address, account."""
    email_key = (email or "").strip().lower()[:254]
    ratelimit.check(db, ratelimit.LOGIN_PAIR, f"{ip}|{email_key}")
    ratelimit.check(db, ratelimit.LOGIN_IP, ip)
    ratelimit.check(db, ratelimit.LOGIN_ACCOUNT, email_key)
    user = find_by_email(db, email_key) if email_key else None
    ok = verify_password(user.password_hash if user else None, password or "")
    if not ok or user is None or not user.is_active:
        ratelimit.hit(db, ratelimit.LOGIN_PAIR, f"{ip}|{email_key}")
        ratelimit.hit(db, ratelimit.LOGIN_IP, ip)
        ratelimit.hit(db, ratelimit.LOGIN_ACCOUNT, email_key)
        audit(db, "login.failed", actor_user_id=user.id if user else None, actor_email=email_key, ip=ip)
        raise LoginFailed()
    if user.email_verified_at is None:
        raise EmailNotVerified()
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def second_factor_needed(user: User) -> bool:
    return user.totp_enabled


def verify_second_factor(db: Session, *, user: User, code: str, ip: str) -> None:
    """Accept a current TOTP code (never the same one twice) or an unused recovery code."""
    ratelimit.hit(db, ratelimit.MFA_USER, str(user.id))
    code = (code or "").strip()
    if user.totp_secret:
        step = totp.matching_step(user.totp_secret, code, last_step=user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            return
    hashed = totp.hash_recovery_code(code)
    if hashed in (user.recovery_code_hashes or []):
        user.recovery_code_hashes = [h for h in user.recovery_code_hashes if h != hashed]
        audit(db, "mfa.recovery_code_used", actor_user_id=user.id, actor_email=user.email, ip=ip)
        return
    audit(db, "mfa.failed", actor_user_id=user.id, actor_email=user.email, ip=ip)
    raise Invalid("code", "That code is not right. Enter the current 6-digit code from your app.")


def record_login(db: Session, *, user: User, ip: str, method: str = "password") -> None:
    audit(db, "login", actor_user_id=user.id, actor_email=user.email, ip=ip, method=method)


def record_logout(db: Session, *, user: User, ip: str) -> None:
    audit(db, "logout", actor_user_id=user.id, actor_email=user.email, ip=ip)


# -- passwords ----------------------------------------------------------------------------------
def _reset_fingerprint(user: User) -> str:
    # Changes whenever the password does, so a reset link works once.
    return sha256_hex(f"{user.password_hash or ''}|{user.email}")[:16]


def request_password_reset(db: Session, mailing: Mailing, *, email: str, ip: str) -> None:
    """Same answer for every address; e-mails a one-time link to a known active user."""
    ratelimit.hit(db, ratelimit.EMAIL_ACTION_IP, f"reset:{ip}")
    try:
        email = forms.clean_email(email)
    except Invalid:
        return
    user = find_by_email(db, email)
    if user is None or not user.is_active:
        audit(db, "password.reset_unknown", actor_email=email, ip=ip)
        return
    if not _under_mail_cap(db, f"reset:{user.id}"):
        audit(db, "password.reset_capped", actor_user_id=user.id, actor_email=user.email, ip=ip)
        return
    token = mailing.signer.sign("reset-password", {"u": user.id, "f": _reset_fingerprint(user)})
    queue_email(
        db,
        mailing.composer,
        to=user.email,
        template="reset_password",
        locale=user.locale,
        context={"name": user.display_name, "reset_url": mailing.link(f"/password/reset?token={token}")},
    )
    audit(db, "password.reset_requested", actor_user_id=user.id, actor_email=user.email, ip=ip)


def user_for_reset_token(db: Session, signer: LinkSigner, *, token: str) -> User:
    try:
        payload = signer.unsign("reset-password", token, max_age_s=RESET_MAX_AGE_S)
        user = db.get(User, int(payload["u"]))
    except (InvalidToken, KeyError, TypeError, ValueError):
        raise Invalid("token", "This link is invalid or has expired.") from None
    if user is None or not user.is_active or payload.get("f") != _reset_fingerprint(user):
        raise Invalid("token", "This link is invalid or has expired.")
    return user


def reset_password(db: Session, signer: LinkSigner, *, token: str, password: str, password_confirm: str, ip: str) -> User:
    """Set a new password from a reset link; ends every session of the user."""
    user = user_for_reset_token(db, signer, token=token)
    forms.clean_new_password(password, password_confirm, email=user.email)
    _set_password(db, user, password)
    # The link proved control of the mailbox.
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        _changed(db, user)
    audit(db, "password.reset", actor_user_id=user.id, actor_email=user.email, ip=ip)
    return user


def change_password(db: Session, *, actor: User, current: str, password: str, password_confirm: str, ip: str) -> None:
    """Change the actor's password; every session of the actor ends (the caller starts a new one)."""
    if actor.password_hash and not verify_password(actor.password_hash, current):
        raise Invalid("current_password", "Your current password is not right.")
    forms.clean_new_password(password, password_confirm, email=actor.email)
    _set_password(db, actor, password)
    audit(db, "password.changed", actor_user_id=actor.id, actor_email=actor.email, ip=ip)


def _set_password(db: Session, user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    sessions.end_all_for_user(db, user.id)


# -- profile -------------------------------------------------------------------------------------
def update_profile(db: Session, *, actor: User, name: str, locale: str) -> User:
    values = forms.validate(name=lambda: forms.clean_name(name), locale=lambda: forms.clean_locale(locale))
    if values["name"] != actor.name or values["locale"] != actor.locale:
        actor.name = values["name"]
        actor.locale = values["locale"]
        _changed(db, actor)
    return actor


def set_locale(db: Session, *, actor: User, locale: str) -> None:
    locale = forms.clean_locale(locale)
    if actor.locale != locale:
        actor.locale = locale
        _changed(db, actor)


# -- colleagues (company and partner accounts) ----------------------------------------------------
_INVITER_ROLES = {
    Role.CUSTOMER_ADMIN: (Role.CUSTOMER, Role.CUSTOMER_ADMIN),
    Role.PARTNER_ADMIN: (Role.PARTNER, Role.PARTNER_ADMIN),
    Role.ADMIN: (Role.STAFF, Role.ADMIN),
}


def _require_admin(actor: User) -> tuple[Role, ...]:
    allowed = _INVITER_ROLES.get(actor.role)
    if allowed is None:
        raise Forbidden()
    return allowed


def list_colleagues(db: Session, *, actor: User) -> list[User]:
    """Users of the actor's own account (staff: all staff), newest first."""
    if actor.role.is_staff:
        stmt = select(User).where(User.role.in_([Role.STAFF, Role.ADMIN]))
    elif actor.account_id:
        stmt = select(User).where(User.account_id == actor.account_id)
    else:
        return [actor]
    return list(db.scalars(stmt.order_by(User.created_at.desc(), User.id.desc())).all())


def pending_invitations(db: Session, *, actor: User) -> list[Invitation]:
    _require_admin(actor)
    stmt = select(Invitation).where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > utcnow())
    stmt = stmt.where(Invitation.account_id.is_(None)) if actor.role.is_staff else stmt.where(Invitation.account_id == actor.account_id)
    return list(db.scalars(stmt.order_by(Invitation.created_at.desc())).all())


def invite(
    db: Session, mailing: Mailing, *, actor: User | None, email: str, role: Role, account_id: str | None, inviter_name: str = ""
) -> Invitation:
    """Invite someone to an account with a role. `actor` None is the system (partner approval).

    Customer admins invite to their company, partner admins to their organisation, admins
    invite staff. Raises Forbidden, Invalid, Conflict (already a member).
    """
    if actor is not None:
        allowed = _require_admin(actor)
        if role not in allowed:
            raise Invalid("role", "Choose a role from the list.")
        account_id = None if actor.role.is_staff else actor.account_id
        if not actor.role.is_staff and account_id is None:
            raise Forbidden()
    email = forms.clean_email(email)
    existing = find_by_email(db, email)
    if (
        existing is not None
        and existing.is_active
        and (existing.account_id == account_id and existing.role in (allowed if actor else (role,)))
    ):
        raise Conflict("This person is already a member.")
    token = random_token()
    now = utcnow()
    invitation = Invitation(
        account_id=account_id,
        email=email,
        role=role,
        token_hash=sha256_hex(token),
        invited_by_id=actor.id if actor else None,
        created_at=now,
        expires_at=now + timedelta(days=INVITE_DAYS),
    )
    db.add(invitation)
    db.flush()
    account = db.get(Account, account_id) if account_id else None
    queue_email(
        db,
        mailing.composer,
        to=email,
        template="invitation",
        locale=actor.locale if actor else "en",
        context={
            "inviter": (actor.display_name if actor else inviter_name) or "",
            "account_name": account.name if account else "",
            "role": role.value,
            "accept_url": mailing.link(f"/invitations/accept?token={token}"),
            "days": INVITE_DAYS,
        },
    )
    if actor is not None:
        audit(db, "invitation.sent", actor_user_id=actor.id, actor_email=actor.email, target=email, role=role.value)
    return invitation


def invitation_for_token(db: Session, *, token: str) -> Invitation:
    invitation = db.scalar(select(Invitation).where(Invitation.token_hash == sha256_hex(token or "")))
    if invitation is None or invitation.accepted_at or invitation.revoked_at or invitation.expires_at <= utcnow():
        raise Invalid("token", "This invitation is invalid, was already used, or has expired.")
    return invitation


def accept_invitation(db: Session, *, token: str, name: str, password: str, password_confirm: str, signed_in: User | None, ip: str) -> User:
    """Join the invited account. A new e-mail gets a new verified user; an existing user must
    be the one signed in and is moved into the account with the invited role."""
    invitation = invitation_for_token(db, token=token)
    user = find_by_email(db, invitation.email)
    if user is not None:
        if signed_in is None or signed_in.id != user.id:
            raise Invalid("token", "An account with this e-mail address exists. Sign in with it, then open the invitation link again.")
        user.account_id = invitation.account_id
        user.role = invitation.role
        user.is_active = True
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()
        _changed(db, user)
    else:
        values = forms.validate(
            name=lambda: forms.clean_name(name),
            password=lambda: forms.clean_new_password(password, password_confirm, email=invitation.email),
        )
        user = create_user(
            db,
            email=invitation.email,
            password=values["password"],
            role=invitation.role,
            name=values["name"],
            account_id=invitation.account_id,
            verified=True,
        )
    invitation.accepted_at = utcnow()
    audit(db, "invitation.accepted", actor_user_id=user.id, actor_email=user.email, ip=ip, account_id=invitation.account_id)
    return user


def revoke_invitation(db: Session, *, actor: User, invitation_id: int) -> None:
    _require_admin(actor)
    invitation = db.get(Invitation, invitation_id)
    scope_ok = invitation is not None and (
        invitation.account_id is None if actor.role.is_staff else invitation.account_id == actor.account_id
    )
    if invitation is None or not scope_ok or invitation.accepted_at:
        raise NotFound()
    invitation.revoked_at = utcnow()


def remove_colleague(db: Session, *, actor: User, user_id: int) -> User:
    """Customer admins detach a colleague from the company (they keep their own sign-in);
    partner admins and admins deactivate. Only within the actor's own account; never oneself."""
    _require_admin(actor)
    target = db.get(User, user_id)
    if target is None or target.id == actor.id:
        raise NotFound()
    if actor.role.is_staff:
        if not target.role.is_staff:
            raise NotFound()
    elif target.account_id != actor.account_id:
        raise NotFound()
    if actor.role is Role.CUSTOMER_ADMIN:
        target.account_id = None
        target.role = Role.CUSTOMER
    else:
        target.is_active = False
    sessions.end_all_for_user(db, target.id)
    _changed(db, target)
    audit(db, "colleague.removed", actor_user_id=actor.id, actor_email=actor.email, target=target.email)
    return target


def set_active(db: Session, *, actor: User, user_id: int, active: bool) -> User:
    """Admins (de)activate any non-admin user; deactivation ends their sessions."""
    if actor.role is not Role.ADMIN:
        raise Forbidden()
    target = db.get(User, user_id)
    if target is None or target.id == actor.id:
        raise NotFound()
    if target.is_active != active:
        target.is_active = active
        if not active:
            sessions.end_all_for_user(db, target.id)
        _changed(db, target)
        audit(db, "user.activated" if active else "user.deactivated", actor_user_id=actor.id, actor_email=actor.email, target=target.email)
    return target


def count_users(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(User)) or 0)


# -- two-factor ------------------------------------------------------------------------------------
def confirm_totp(db: Session, *, actor: User, secret: str, code: str) -> list[str]:
    """Turn on TOTP after the user proved the app has the secret; returns recovery codes (shown once)."""
    step = totp.matching_step(secret, code)
    if step is None:
        raise Invalid("code", "That code is not right. Enter the current 6-digit code from your app.")
    codes = totp.new_recovery_codes()
    actor.totp_secret = secret
    actor.totp_enabled = True
    actor.totp_last_step = step
    actor.recovery_code_hashes = [totp.hash_recovery_code(c) for c in codes]
    audit(db, "mfa.enabled", actor_user_id=actor.id, actor_email=actor.email)
    return codes


def disable_totp(db: Session, *, actor: User, password: str) -> None:
    if actor.role.requires_mfa:
        raise Forbidden()
    if not verify_password(actor.password_hash, password):
        raise Invalid("password", "Your current password is not right.")
    actor.totp_secret = None
    actor.totp_enabled = False
    actor.totp_last_step = None
    actor.recovery_code_hashes = []
    audit(db, "mfa.disabled", actor_user_id=actor.id, actor_email=actor.email)
