from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ParticipantsConfig(AppConfig):
    name = "plan_service.participants"
    label = "participants"
    verbose_name = _("participants")

    def ready(self) -> None:
        from simple_history.signals import pre_create_historical_record

        from plan_service.audit import parties
        from plan_service.participants import admin, selectors, sessions
        from plan_service.participants.acting import stamp_on_behalf_of

        sessions.connect()
        # The admin is the registry's: autodiscovery (the admin app's ready, before ours) may
        # have registered other apps' models.
        admin.keep_only_the_registry()
        # What the access log asks of the registry (the audit app imports no registry model).
        parties.answer_actor_facts(selectors.actor_facts)
        parties.answer_family_people(selectors.family_people)
        parties.answer_target("family", selectors.family_target)
        # Every history row says on whose behalf the change was made (a guardian acting for
        # their child, issue 18).
        pre_create_historical_record.connect(
            stamp_on_behalf_of, dispatch_uid="historical.on_behalf_of"
        )
