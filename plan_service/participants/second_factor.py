"""The second factor of professionals: time-based one-time passwords (django-otp's TOTP).

The policy says who needs one (`policy.requires_second_factor`); this module checks a code
against the user's confirmed devices and enrols a device. Codes are never logged.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice


def verify(user: Any, code: str | None) -> TOTPDevice | None:
    """The confirmed device that accepts `code` now (each code works once), or None."""
    if not code:
        return None
    device = match_token(user, code.strip().replace(" ", ""))
    return device if isinstance(device, TOTPDevice) and device.confirmed else None


def refused(request: Any, username: str) -> None:
    """A right password with a wrong or missing code: a failed sign-in like any other, so it is
    logged (plan_service.audit.accounts) and counted by the throttle (django-axes), both of which
    listen to Django's `user_login_failed`."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


def has_device(user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def enrol(user: Any, *, name: str = "authenticator") -> TOTPDevice:
    """A new confirmed TOTP device for `user` (its `config_url` goes into an authenticator app).

    Enrolment is an administrator's act in the registry (Django admin) or the demo's; the
    device's key is shown once to the person, never logged.
    """
    return TOTPDevice.objects.create(user=user, name=name, confirmed=True)


def issuer() -> str:
    return settings.OTP_TOTP_ISSUER
