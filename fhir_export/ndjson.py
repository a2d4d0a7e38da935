"""FHIR Bulk Data output: one NDJSON file per resource type, and the manifest that lists them.

`BulkWriter` takes the Bundles of many plans one after another and writes each resource once
per file of its type, in constant memory with respect to the number of plans:

* Organizations, Practitioners and PractitionerRoles are shared by many plans; their ids are
  remembered for the whole run (bounded by the size of the registry, not by the plans).
* Patients, RelatedPersons and the rest belong to one family. Feed plans ordered by family (with
  their family id); ids are remembered only within the family, so a child in two plans of the
  family is written once.

The manifest follows the Bulk Data Access IG (`transactionTime`, `request`,
`requiresAccessToken`, `output` with type, url and count).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import IO, Any

from fhir_export.bundle import to_json_bytes

#: Resource types shared across families: written once per run.
REGISTRY_TYPES = frozenset({"Organization", "Practitioner", "PractitionerRole"})


#: A `reference` member whose value is a `urn:uuid:` fullUrl, in `to_json_bytes` text. Only
#: keys are followed by a colon, and only the builders name keys; a quote inside any string is
#: escaped (`\"`), so user text cannot contain this pattern.
_URN_REFERENCE = re.compile(rb'"reference":"(urn:uuid:[^"\\]*)"')


def bulk_line(resource: dict[str, Any], types: dict[bytes, bytes]) -> bytes:
    """A resource as a Bulk Data line: its JSON with every reference `Type/id` (there is no
    Bundle to hold `urn:uuid:` fullUrls; the derived ids make this possible). `types` maps
    fullUrls, as bytes. Rewritten in the text rather than by copying the tree (the bulk export
    writes ~10 resources per plan); tests/fhir_export/test_serialisation.py checks it equals the
    tree walk (`tests.fhir_export.resolve.bulk_resource`) over every plan shape and hostile
    text."""
    return _URN_REFERENCE.sub(
        lambda m: b'"reference":"' + types.get(m[1], m[1]) + b'"', to_json_bytes(resource)
    )


def bundle_lines(bundle: dict[str, Any]) -> list[tuple[str, str, bytes]]:
    """(type, id, NDJSON line) of every resource of one plan's transaction Bundle, in order."""
    types = {
        e["fullUrl"].encode(): f"{e['resource']['resourceType']}/{e['resource']['id']}".encode()
        for e in bundle["entry"]
    }
    return [
        (e["resource"]["resourceType"], e["resource"]["id"], bulk_line(e["resource"], types))
        for e in bundle["entry"]
    ]


class BulkWriter:
    """Writes resources into `<directory>/<Type>.ndjson`, deduplicated as described above."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, IO[bytes]] = {}
        self.counts: dict[str, int] = {}
        self.registry_seen: set[str] = set()
        self.family_seen: set[str] = set()
        self.family: object = None

    def add_plan(self, family_id: object, bundle: dict[str, Any]) -> None:
        """Write every resource of one plan's transaction Bundle (plans ordered by family)."""
        self.add_lines(family_id, bundle_lines(bundle))

    def add_lines(self, family_id: object, lines: list[tuple[str, str, bytes]]) -> None:
        """Write one plan's `bundle_lines`, each resource once per family (or per run)."""
        if family_id != self.family:
            self.family_seen = set()  # the family-level ids of the last family are done
            self.family = family_id
        for kind, rid, line in lines:
            seen = self.registry_seen if kind in REGISTRY_TYPES else self.family_seen
            key = f"{kind}/{rid}"
            if key in seen:
                continue
            seen.add(key)
            handle = self.files.get(kind)
            if handle is None:
                handle = (self.directory / f"{kind}.ndjson").open("wb")
                self.files[kind] = handle
            handle.write(line)
            handle.write(b"\n")
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
