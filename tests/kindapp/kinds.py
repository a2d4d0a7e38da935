"""The throwaway kind's declaration: all the service is told about strengths.

Not registered at import: the tests declare it for their duration (`kinds.registered`), so the
rest of the suite (the endpoint-coverage walk, the schema, the matrix) never sees it.
"""

from __future__ import annotations

from typing import Any

from fhir_export.snapshot import NoteItemData
from plan_service.plans.kinds import ItemKind, Visible, snapshot_common
from tests.kindapp.models import Strength


def _snapshot(item: Strength, visible: Visible) -> NoteItemData:
    # The FHIR builder: a strength leaves as a note on the CarePlan.
    return NoteItemData(
        **snapshot_common(item), note_kind="comment", text=f"{item.title}: {item.text}"
    )


STRENGTH = ItemKind(
    name="strength",
    model=Strength,
    fields=("goal_id", "title", "text"),
    route="strengths",
    references={"goal_id": "goal"},
    snapshot_field="other_items",
    snapshot=_snapshot,
)

__all__: list[Any] = ["STRENGTH"]
