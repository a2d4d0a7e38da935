"""Domain errors are plain exceptions, mapped to HTTP in one place (issue 14); an error answer
changes nothing.

The services know nothing of HTTP: no domain module outside an `api/` package imports Django
REST Framework, and every domain error answers with a status from `DOMAIN_STATUS`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.http import Http404
from rest_framework import exceptions

from plan_service import errors
from plan_service.api.exceptions import DOMAIN_STATUS, domain_status, exception_handler
from plan_service.participants.models import Organization
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = [ROOT / "plan_service", ROOT / "fhir_export"]
#: Modules outside an api/ package that are HTTP plumbing by nature.
HTTP_MODULES = {
    "plan_service/urls.py",
    "plan_service/routes.py",
    "plan_service/participants/authentication.py",  # DRF's authentication class for tokens
    "plan_service/clients/authentication.py",  # the same, for machine clients' tokens
}


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


@pytest.mark.parametrize("cls", [errors.DomainError, *_subclasses(errors.DomainError)])
def test_every_domain_error_has_a_status_and_a_message(cls):
    if cls is errors.StaleVersionError:
        exc = cls(3)
    else:
        try:
            exc = cls()
        except TypeError:  # one that must say what went wrong (e.g. the FHIR push's failure)
            exc = cls("what went wrong", code="its_code")
    assert 400 <= domain_status(exc) < 600
    assert str(exc.message)
    assert exc.code


def test_the_mapping_names_only_domain_errors():
    assert all(issubclass(cls, errors.DomainError) for cls in DOMAIN_STATUS)


def _imports(path: Path) -> set[str]:
    """Modules imported at run time (imports for type checking only are left out)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    typing_only = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for child in ast.walk(node)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_domain_module_imports_the_rest_framework():
    offenders = []
    for base in DOMAIN:
        for path in base.rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            parts = set(path.relative_to(ROOT).parts)
            if parts & {"api", "migrations", "settings", "web"} or rel in HTTP_MODULES:
                continue
            if any(
                m == "rest_framework" or m.startswith("rest_framework.") for m in _imports(path)
            ):
                offenders.append(rel)
    assert offenders == []


ERROR_ANSWERS = [
    pytest.param(lambda: Http404(), id="404"),
    pytest.param(lambda: exceptions.ValidationError({"name": ["bad"]}), id="400-validation"),
    pytest.param(lambda: exceptions.PermissionDenied(), id="403"),
    pytest.param(lambda: errors.ConflictError(), id="409-domain"),
    pytest.param(lambda: errors.StaleVersionError(3), id="412"),
    pytest.param(lambda: IntegrityError("duplicate"), id="409-integrity"),
    pytest.param(lambda: DataError("NUL"), id="400-data"),
    pytest.param(lambda: DatabaseError("gone"), id="503"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("make", ERROR_ANSWERS)
def test_an_error_answer_undoes_what_the_request_wrote_before_it(make):
    """The handler answers inside the request's transaction (`PolicyViewSet.dispatch` opens
    it); a write made before the error must not be committed with the error answer. REST
    framework's own `set_rollback` does nothing without ATOMIC_REQUESTS, which let it through."""
    with transaction.atomic():  # the request's transaction
        written = factories.organization()
        response = exception_handler(make(), {"view": SimpleNamespace(owns_transaction=True)})
    assert response is not None
    assert 400 <= response.status_code < 600
    assert not Organization.objects.filter(pk=written.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("make", ERROR_ANSWERS)
def test_an_error_answer_leaves_a_transaction_the_request_did_not_open(make):
    """A read opens no transaction: its error answer must not mark one around it (here a
    test's), which would refuse every later statement in it."""
    with transaction.atomic():
        written = factories.organization()
        exception_handler(make(), {"view": SimpleNamespace(owns_transaction=False)})
        assert not transaction.get_rollback()
    assert Organization.objects.filter(pk=written.pk).exists()


@pytest.mark.django_db
def test_a_request_that_ends_without_an_error_keeps_its_writes():
    with transaction.atomic():
        written = factories.organization()
    assert Organization.objects.filter(pk=written.pk).exists()


@pytest.mark.django_db
def test_a_write_request_refused_after_a_finished_service_call_keeps_nothing(api, monkeypatch):
    """Through the whole stack: the view set's own transaction is the one its error answer
    rolls back. Here the registry's service finishes (the organisation, its history row and
    its log row are written) and then the request is refused; all three must go."""
    from plan_service.audit.models import AccessEvent
    from plan_service.participants import services as registry
    from plan_service.participants.api import views

    real = registry.organization_create

    def then_refused(**kwargs):
        real(**kwargs)
        raise errors.ConflictError()

    monkeypatch.setattr(views.services, "organization_create", then_refused)
    admin = factories.professional("administrator").user
    before = AccessEvent.objects.filter(object_type="organization").count()
    response = api.as_user(admin).post(
        "/api/v1/organizations/", {"name": "Ei jää", "oid": "1.2.246.10.99.7", "sector": "health"}
    )
    assert response.status_code == 409
    assert not Organization.objects.filter(name="Ei jää").exists()
    assert not Organization.history.filter(name="Ei jää").exists()
    assert AccessEvent.objects.filter(object_type="organization").count() == before
