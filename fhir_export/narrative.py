"""The fi-base finish of every exported resource: `meta.profile`, `language` and a narrative.

* `meta.profile` names the HL7 Finland base profile a resource meets, where one exists for its
  type (canonical `https://hl7.fi/fhir/finnish-base-profiles/StructureDefinition/<id>`, from
  the profiles' sushi-config.yaml and FSH sources). CarePlan, Goal, CareTeam, Consent, Group,
  RelatedPerson and AuditEvent have none; a Condition about a whole family (Group subject) does
  not meet fi-base-condition (subject only Patient), so it claims none either.
* `language` is the plan's language (BCP-47 `fi`, `sv` or `en`).
* `text` is a generated narrative (status `generated`, an XHTML `div`) in that language, made
  only from the resource's own elements, every value escaped. Labels come from the table below:
  this package is Django-free, so the fi/sv/en words live here rather than in gettext catalogues.
"""

from __future__ import annotations

import re
from html import escape as html_escape
from typing import Any

from fhir_export import coding as c

Resource = dict[str, Any]

#: Characters XML 1.0 does not allow (a narrative must be well-formed XHTML).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def escape(value: str) -> str:
    """`value` as XHTML text: markup escaped, characters XML cannot carry dropped."""
    return html_escape(_NOT_XML.sub("", value))


PROFILES = {
    "Patient": "fi-base-patient",
    "Practitioner": "fi-base-practitioner",
    "PractitionerRole": "fi-base-practitioner-role",
    "Organization": "fi-base-organization",
    "Condition": "fi-base-condition",
    "Provenance": "fi-base-provenance",
}

LABELS: dict[str, dict[str, str]] = {
    "fi": {
        "Patient": "Lapsi",
        "RelatedPerson": "Huoltaja",
        "Group": "Perhe",
        "Organization": "Organisaatio",
        "Practitioner": "Ammattilainen",
        "PractitionerRole": "Ammattilaisen rooli",
        "CareTeam": "Tiimi",
        "CarePlan": "Perhesuunnitelma",
        "Goal": "Tavoite",
        "Condition": "Tarve",
        "Consent": "Suostumus",
        "Provenance": "Alkuperä",
        "AuditEvent": "Lokitapahtuma",
        "status": "Tila",
        "born": "Syntynyt",
        "members": "Jäseniä",
        "target": "Tavoitetila",
        "due": "Määräaika",
        "activities": "Toimenpiteet",
        "recorded": "Kirjattu",
        "period": "Voimassa",
        "non_disclosure": "Turvakielto",
        "outcome": "Tulos",
    },
    "sv": {
        "Patient": "Barn",
        "RelatedPerson": "Vårdnadshavare",
        "Group": "Familj",
        "Organization": "Organisation",
        "Practitioner": "Yrkesperson",
        "PractitionerRole": "Yrkespersonens roll",
        "CareTeam": "Team",
        "CarePlan": "Familjeplan",
        "Goal": "Mål",
        "Condition": "Behov",
        "Consent": "Samtycke",
        "Provenance": "Ursprung",
        "AuditEvent": "Logghändelse",
        "status": "Status",
        "born": "Född",
        "members": "Medlemmar",
        "target": "Önskat läge",
        "due": "Senast",
        "activities": "Åtgärder",
        "recorded": "Registrerad",
        "period": "Giltig",
        "non_disclosure": "Spärrmarkering",
        "outcome": "Resultat",
    },
    "en": {
        "Patient": "Child",
        "RelatedPerson": "Guardian",
        "Group": "Family",
        "Organization": "Organisation",
        "Practitioner": "Professional",
        "PractitionerRole": "Professional role",
        "CareTeam": "Team",
        "CarePlan": "Family plan",
        "Goal": "Goal",
        "Condition": "Need",
        "Consent": "Consent",
        "Provenance": "Provenance",
        "AuditEvent": "Audit event",
        "status": "Status",
        "born": "Born",
        "members": "Members",
        "target": "Desired outcome",
        "due": "Due",
        "activities": "Actions",
        "recorded": "Recorded",
        "period": "Valid",
        "non_disclosure": "Non-disclosure for personal safety",
        "outcome": "Outcome",
    },
}


def _name(resource: Resource) -> str:
    names = resource.get("name")
    if isinstance(names, str):
        return names
    if not names:
        return ""
    first = names[0]
    return first.get("text") or " ".join([*first.get("given", []), first.get("family", "")]).strip()


def _when(value: str) -> str:
    """A date or instant as people read it: the date, and the minute for an instant (UTC)."""
    return value[:16].replace("T", " ")


def _period(period: dict[str, str] | None) -> str:
    if not period:
        return ""
    return f"{_when(period.get('start', ''))} - {_when(period.get('end', ''))}"


def _rows(resource: Resource, words: dict[str, str]) -> tuple[str, list[tuple[str, str]]]:
    """A title and (label, value) rows for one resource, from its own elements only."""
    kind = resource["resourceType"]
    rows: list[tuple[str, str]] = []
    title = ""
    if kind in ("Patient", "RelatedPerson", "Practitioner", "Organization", "Group"):
        title = _name(resource)
        if resource.get("birthDate"):
            rows.append((words["born"], resource["birthDate"]))
        if kind == "Group":
            rows.append((words["members"], str(resource.get("quantity", 0))))
        labels = resource.get("meta", {}).get("security", [])
        if any(s.get("code") == "TURVAKIELTO" for s in labels):
            rows.append((words["non_disclosure"], "✓"))
    elif kind == "PractitionerRole":
        title = resource["code"][0].get("text", "")
    elif kind == "CareTeam":
        rows.append((words["status"], resource["status"]))
        rows.append((words["period"], _period(resource.get("period"))))
    elif kind == "CarePlan":
        title = resource.get("description", "")
        rows.append((words["status"], resource["status"]))
        rows.append((words["period"], _period(resource.get("period"))))
        for activity in resource.get("activity", []):
            rows.append((words["activities"], activity["detail"].get("description", "")))
    elif kind == "Goal":
        title = resource["description"].get("text", "")
        rows.append((words["status"], resource["lifecycleStatus"]))
        for target in resource.get("target", []):
            if target.get("detailString"):
                rows.append((words["target"], target["detailString"]))
            if target.get("dueDate"):
                rows.append((words["due"], target["dueDate"]))
    elif kind == "Condition":
        title = resource["code"].get("text", "")
    elif kind == "Consent":
        rows.append((words["status"], resource["status"]))
        rows.append((words["period"], _period(resource.get("provision", {}).get("period"))))
    elif kind == "Provenance":
        rows.append((words["recorded"], _when(resource["recorded"])))
    elif kind == "AuditEvent":
        rows.append((words["recorded"], _when(resource["recorded"])))
        rows.append((words["outcome"], resource.get("outcome", "")))
    return title, rows


def narrative(resource: Resource, language: str) -> dict[str, str]:
    """The generated narrative of `resource` in `language`, as escaped XHTML."""
    words = LABELS.get(language, LABELS["fi"])
    title, rows = _rows(resource, words)
    heading = escape(words[resource["resourceType"]])
    if title:
        heading = f"{heading}: {escape(title)}"
    body = f"<p><b>{heading}</b></p>"
    if rows:
        cells = "".join(
            f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in rows
        )
        body += f"<table>{cells}</table>"
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


def profiles_of(resource: Resource, extra: str | None = None) -> list[str]:
    """The fi-base profiles `resource` meets (see the module docstring)."""
    profile = PROFILES.get(resource["resourceType"])
    found = [c.fi_profile(profile)] if profile else []
    if extra:
        found.append(extra)
    return found


def finish(
    resource: Resource,
    language: str,
    *,
    patient_refs: frozenset[str] = frozenset(),
    extra_profile: str | None = None,
) -> Resource:
    """`resource` with meta.profile, language and narrative, keys in FHIR element order."""
    kind = resource["resourceType"]
    profiles = profiles_of(resource, extra_profile)
    if kind == "Condition" and resource["subject"]["reference"] not in patient_refs:
        profiles = []  # fi-base-condition: subject only Reference(FiBasePatient)
    meta = dict(resource.get("meta", {}))
    if profiles:
        meta = {"profile": profiles, **meta}
    head: Resource = {"resourceType": kind, "id": resource["id"]}
    if meta:
        head["meta"] = meta
    head["language"] = language
    head["text"] = narrative(resource, language)
    rest = {k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}
    return {**head, **rest}
