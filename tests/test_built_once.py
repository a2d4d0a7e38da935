"""What the service builds once per class instead of on every use: a model serializer's fields
(`plan_service.api.serializers.ModelSerializer`) and django-simple-history's manager class
(`plan_service.historical`). Each is held to what the library builds afresh."""

from __future__ import annotations

import pytest
from django.utils import translation
from rest_framework import serializers

from plan_service.api.serializers import ModelSerializer
from plan_service.participants.models import Organization
from plan_service.plans.models import Goal
from tests import factories

pytestmark = pytest.mark.django_db


class _Kept(ModelSerializer):
    class Meta:
        model = Organization
        fields = ["oid", "name", "sector"]


class _Afresh(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["oid", "name", "sector"]


def _answer(serializer_class: type[serializers.ModelSerializer], data: dict) -> tuple:
    s = serializer_class(data=data)
    s.is_valid()
    fields = s.fields
    return (
        {k: [str(e) for e in v] for k, v in s.errors.items()},
        {k: str(f.label) for k, f in fields.items()},
        [str(label) for label in fields["sector"].choices.values()],
    )


def test_kept_fields_answer_as_fields_built_afresh_in_every_language_in_any_order():
    """A unique field's message is formatted when the field is built, in the language active
    then: fields kept from a build in another language would answer in that language."""
    taken = factories.organization()
    data = {"oid": taken.oid, "name": "x" * 201, "sector": "nonsense"}
    answers = {}
    for language in ("en", "fi", "sv", "en", "fi"):
        with translation.override(language):
            kept, afresh = _answer(_Kept, data), _answer(_Afresh, data)
        assert kept == afresh, language
        assert set(kept[0]) == {"oid", "name", "sector"}
        answers.setdefault(language, kept)
        assert answers[language] == kept
    assert answers["en"][0]["oid"] != answers["fi"][0]["oid"] != answers["sv"][0]["oid"]


def test_each_use_gets_its_own_fields_bound_to_it():
    first, second = _Kept(), _Kept()
    assert first.fields["oid"] is not second.fields["oid"]
    assert first.fields["oid"].parent is first
    assert second.fields["oid"].parent is second


def test_the_history_manager_class_is_built_once_and_each_manager_keeps_its_instance():
    lead = factories.professional()
    plan = factories.plan(lead)
    goals = [
        Goal.objects.create(plan=plan, category="general", title=f"g{i}", created_by=lead.user)
        for i in range(2)
    ]
    goals[0].title = "changed"
    goals[0].save()
    assert type(goals[0].history) is type(goals[1].history) is type(Goal.history)
    assert goals[0].history.count() == 2
    assert goals[1].history.count() == 1
    assert Goal.history.filter(id__in=[g.pk for g in goals]).count() == 3
    assert goals[0].history.first().title == "changed"


def test_a_manager_subclass_gets_a_class_built_from_itself():
    from simple_history.manager import HistoricalQuerySet

    from plan_service.historical import _Managers

    class Narrower(_Managers):
        pass

    assert issubclass(Narrower.from_queryset(HistoricalQuerySet), Narrower)
    assert not issubclass(_Managers.from_queryset(HistoricalQuerySet), Narrower)


def test_every_model_serializer_of_the_service_keeps_its_fields():
    """A model serializer written on Django REST framework's own class would build its fields
    on every use again: every one of the service's derives from ours."""
    import django.urls

    django.urls.get_resolver().url_patterns  # noqa: B018 (import every routed module)

    def walk(cls: type) -> list[type]:
        return [cls, *(c for sub in cls.__subclasses__() for c in walk(sub))]

    ours = [
        c
        for c in walk(serializers.ModelSerializer)
        if c.__module__.startswith(("plan_service.", "fhir_export."))
    ]
    assert len(ours) > 20
    assert [c for c in ours if not issubclass(c, ModelSerializer)] == []
