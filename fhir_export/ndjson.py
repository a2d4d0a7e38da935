"""FHIR Bulk Data output: one NDJSON file per resource type, and the manifest that lists them.

`BulkWriter` takes the Bundles of many plans one after another and writes each resource once
per file of its type, in constant memory with respect to the number of plans:

* Organizations, Practitioners and PractitionerRoles are shared by many plans; their ids are
  remembered for the whole run (bounded by the size of the registry, not by the plans).
* Patients, RelatedPersons and the rest belong to one family. Feed plans ordered by family and
  call `next_family()` when it changes; ids are remembered only within the family, so a child in
  two plans of the family is written once.

The manifest follows the Bulk Data Access IG (`transactionTime`, `request`,
`requiresAccessToken`, `output` with type, url and count).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import IO, Any

from fhir_export.bundle import to_json

#: Resource types shared across families: written once per run.
REGISTRY_TYPES = frozenset({"Organization", "Practitioner", "PractitionerRole"})


def bulk_resource(resource: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """A resource as Bulk Data wants it: references are `Type/id` (there is no Bundle to hold
    `urn:uuid:` fullUrls), which the derived ids make possible. `types` maps fullUrls."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "reference" and isinstance(value, str) and value.startswith("urn:uuid:"):
                    out[key] = types.get(value, value)
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(resource)


class BulkWriter:
    """Writes resources into `<directory>/<Type>.ndjson`, deduplicated as described above."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, IO[str]] = {}
        self.counts: dict[str, int] = {}
        self.registry_seen: set[str] = set()
        self.family_seen: set[str] = set()

    def next_family(self) -> None:
        """Forget the family-level ids: the next plans belong to another family."""
        self.family_seen = set()

    def add_bundle(self, bundle: dict[str, Any]) -> None:
        """Write every resource of one plan's transaction Bundle."""
        types = {
            e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in bundle["entry"]
        }
        for entry in bundle["entry"]:
            self.add(bulk_resource(entry["resource"], types))

    def add(self, resource: dict[str, Any]) -> None:
        kind, rid = resource["resourceType"], resource["id"]
        seen = self.registry_seen if kind in REGISTRY_TYPES else self.family_seen
        key = f"{kind}/{rid}"
        if key in seen:
            return
        seen.add(key)
        handle = self.files.get(kind)
        if handle is None:
            handle = (self.directory / f"{kind}.ndjson").open("w", encoding="utf-8")
            self.files[kind] = handle
        handle.write(to_json(resource))
        handle.write("\n")
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def close(self, *, transaction_time: dt.datetime, request: str) -> dict[str, Any]:
        """Close the files and write `manifest.json`; returns the manifest."""
        for handle in self.files.values():
            handle.close()
        manifest = {
            "transactionTime": transaction_time.isoformat(),
            "request": request,
            "requiresAccessToken": False,
            "output": [
                {"type": kind, "url": f"{kind}.ndjson", "count": self.counts[kind]}
                for kind in sorted(self.counts)
            ],
            "error": [],
        }
        (self.directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
        return manifest

    def abort(self) -> None:
        """Close and delete what was written (an export that failed must not leave data)."""
        for kind, handle in self.files.items():
            handle.close()
            (self.directory / f"{kind}.ndjson").unlink(missing_ok=True)
        self.files.clear()
