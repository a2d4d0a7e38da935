"""How a FHIR server resolves a transaction Bundle's references, as the tests' oracle."""

from __future__ import annotations

from typing import Any


def bulk_resource(resource: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """`resource` with every `urn:uuid:` reference replaced by `Type/id` (`types` maps
    fullUrls), by walking the tree: what a server stores after a transaction, and the plain
    definition `fhir_export.ndjson.bulk_line` must equal."""

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
