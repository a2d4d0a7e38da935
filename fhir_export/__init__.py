"""FHIR R4 export of shared family plans: pure functions from a snapshot to FHIR resources.

Nothing in this package queries the database or checks permissions: the caller
(`plan_service.plans.export`) builds a `snapshot.PlanSnapshot` of exactly what the recipient may
receive, and these functions only translate it.

The FHIR release is decided here, once. fhir.resources 8.x puts R5 at the package root; its
`fhir.resources.R4B` models have the same elements and cardinality as R4 4.0.1 for every resource
we emit, so they validate R4 JSON. No other module imports fhir.resources: they call
`resource_model` and `validated` below.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import FHIRAbstractModel, get_fhir_model_class

#: The FHIR version every exported resource conforms to (Kanta services are R4).
FHIR_VERSION = "4.0.1"
#: The MIME type of FHIR JSON (R4 is the only version served, so no fhirVersion parameter).
FHIR_JSON = "application/fhir+json"


def resource_model(resource_type: str) -> type[FHIRAbstractModel]:
    """The R4-compatible model class of `resource_type` (raises KeyError for unknown types)."""
    return get_fhir_model_class(resource_type)


def validated(resource: dict[str, Any]) -> FHIRAbstractModel:
    """Validate a resource dict against its R4 model and return the model instance.

    Raises pydantic's ValidationError on structural errors (unknown or missing elements, wrong
    cardinality, bad primitive formats). Code values are checked earlier, in `coding`.
    """
    return resource_model(resource["resourceType"]).model_validate(resource)
