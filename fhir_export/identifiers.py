"""Derived resource ids, so exporting the same plan version twice gives the same Bundle.

Every id is a UUID version 5 of a fixed namespace and a path naming what the resource stands
for. Choices, and why:

* Resources that stand for a plan item (CarePlan per child, Goal, Condition, Consent, ...) derive
  from the plan id and the item id, *not* the version: a push of version 2 then updates the
  resources the push of version 1 created instead of adding a second Goal beside the first, and
  the server keeps the version history. The Provenance of each export derives from the plan id
  and the plan version, so each version pushed leaves its own Provenance.
* People and organisations derive from their own ids only (a child is one Patient whatever plan
  mentions them); a RelatedPerson is one guardian toward one child, so it derives from both.
* No id carries an identity code, or anything else a URL or a server log must not show: the push
  uses `PUT Patient/<uuid>`, never a conditional update keyed on the identity code.
"""

from __future__ import annotations

import uuid

#: The namespace of every derived id, uuid5(NAMESPACE_URL, LOCAL_BASE + "/ids"). Never change
#: it: ids already pushed would all move.
NAMESPACE = uuid.UUID("efaf6052-d0a4-5406-b4e2-c42c86e55c2a")


def derive(kind: str, *parts: object) -> str:
    """The stable id of the `kind` resource named by `parts` (ids, codes, versions)."""
    path = "/".join([kind, *(str(p) for p in parts)])
    return str(uuid.uuid5(NAMESPACE, path))


def full_url(resource_id: str) -> str:
    """The Bundle fullUrl of a resource: its derived id as a `urn:uuid:`."""
    return f"urn:uuid:{resource_id}"


def reference(resource: dict[str, object], display: str | None = None) -> dict[str, object]:
    """A Reference to a resource of the same Bundle (resolved by the server on transaction)."""
    ref: dict[str, object] = {"reference": full_url(str(resource["id"]))}
    if display:
        ref["display"] = display
    return ref
