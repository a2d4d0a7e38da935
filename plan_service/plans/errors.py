"""Domain errors the API maps to HTTP answers (409, 412, 428)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with the current state.")
    default_code = "conflict"


class PreconditionRequired(APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = _("This write needs an If-Match header with the version it is based on.")
    default_code = "precondition_required"


class PreconditionFailed(APIException):
    """The write was based on an older version; the body carries the current one to merge."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("The object has changed since the version this write was based on.")
    default_code = "stale_version"

    def __init__(self, current_version: int) -> None:
        super().__init__()
        self.current_version = current_version
