"""Who the plan is about and who keeps it: Patient, RelatedPerson, Group, Organization,
Practitioner, PractitionerRole and the CareTeam.

The family-level grouping is a `Group` (type person, actual) of the family's children. Why a
Group: R4 `CarePlan.subject` accepts a Group, but national repositories expect a Patient, so the
export has one CarePlan per child (subject = that child). Those CarePlans must still say they are
one shared plan; they all carry the plan identifier, share one CareTeam whose subject is the
Group, and list the Group in `supportingInfo`. Goals and needs that concern more than one child
(or the whole family) take the Group as subject, so they are exported once, not copied per child.
A family CarePlan with `partOf` links was the alternative; it would put a Group-subject CarePlan
in front of repositories that refuse one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fhir_export import coding as c
from fhir_export.identifiers import derive, reference
from fhir_export.primitives import string, string_or
from fhir_export.snapshot import MemberData, OrganizationData, PersonData, PlanSnapshot

Resource = dict[str, Any]


def _instant(value: Any) -> str:
    return value.isoformat()


def _period(start: Any = None, end: Any = None) -> dict[str, str]:
    period = {}
    if start is not None:
        period["start"] = start.isoformat()
    if end is not None:
        period["end"] = end.isoformat()
    return period


def _human_name(family: str, given: str, text: str = "") -> dict[str, Any]:
    name: dict[str, Any] = {}
    if string(family):
        name["family"] = string(family)
    givens = [g for g in (string(part) for part in (given or "").split()) if g]
    if givens:
        name["given"] = givens
    if not name:
        name["text"] = string_or(text, "-")
    return name


def hetu_identifier(code: str) -> dict[str, Any]:
    """The personal identity code as an identifier (HL7 Finland: type v2-0203 NNFIN)."""
    return {
        "use": "official",
        "type": c.concept(c.V2_0203, "NNFIN"),
        "system": c.HETU_SYSTEM,
        "value": code,
    }


#: fi-base: a non-disclosure for personal safety (turvakielto) as a meta.security label.
TURVAKIELTO = c.coding(c.FI_SECURITY_LABEL, "TURVAKIELTO")


def _non_disclosure(person: PersonData) -> dict[str, Any]:
    """The TURVAKIELTO label for a person under a non-disclosure. Such a person's address and
    contact details would be withheld; the service holds none, so none are ever exported."""
    return {"meta": {"security": [TURVAKIELTO]}} if person.non_disclosure else {}


def patient(person: PersonData) -> Resource:
    """A child of the family, identified by the personal identity code."""
    resource: Resource = {
        "resourceType": "Patient",
        "id": derive("Patient", person.id),
        **_non_disclosure(person),
        "identifier": [hetu_identifier(person.identity_code)],
        "active": True,
        "name": [_human_name(person.family_name, person.given_name)],
    }
    if person.birth_date is not None:
        resource["birthDate"] = person.birth_date.isoformat()
    return resource


def related_person(guardian: PersonData, child: Resource) -> Resource:
    """A guardian toward one child (R4 RelatedPerson belongs to exactly one Patient)."""
    resource: Resource = {
        "resourceType": "RelatedPerson",
        "id": derive("RelatedPerson", guardian.id, child["id"]),
        **_non_disclosure(guardian),
        "identifier": [hetu_identifier(guardian.identity_code)],
        "active": True,
        "patient": reference(child),
        "relationship": [c.concept(c.V3_ROLE_CODE, "GUARD")],
        "name": [_human_name(guardian.family_name, guardian.given_name)],
    }
    if guardian.birth_date is not None:
        resource["birthDate"] = guardian.birth_date.isoformat()
    return resource


def family_group(snapshot: PlanSnapshot, patients: list[Resource]) -> Resource:
    """The family-level grouping: the family's children (see the module docstring)."""
    resource: Resource = {
        "resourceType": "Group",
        "id": derive("Group", snapshot.plan_id),
        "identifier": [{"system": c.FAMILY_SYSTEM, "value": str(snapshot.family_id)}],
        "type": c.code("Group.type", "person"),
        "actual": True,
        "quantity": len(patients),
    }
    if string(snapshot.family_name):
        resource["name"] = string(snapshot.family_name)
    if patients:
        resource["member"] = [{"entity": reference(p)} for p in patients]
    return resource


def organization(org: OrganizationData) -> Resource:
    """An organisation of the SOTE register, identified by its OID."""
    return {
        "resourceType": "Organization",
        "id": derive("Organization", org.id),
        "identifier": [{"system": c.SOTE_ORGANIZATION_SYSTEM, "value": org.oid}],
        "active": True,
        "name": string_or(org.name, org.oid),
    }


def practitioner(member: MemberData) -> Resource:
    """The person behind a professional membership (derived from the professional, not the plan)."""
    identifiers = [{"system": c.USER_SYSTEM, "value": str(member.user_id)}]
    if member.terhikki_number:
        identifiers.append({"system": c.TERHIKKI_SYSTEM, "value": member.terhikki_number})
    if member.sv_number:
        identifiers.append({"system": c.SV_SYSTEM, "value": member.sv_number})
    return {
        "resourceType": "Practitioner",
        "id": derive("Practitioner", member.professional_id),
        "identifier": identifiers,
        "active": True,
        "name": [_human_name(member.family_name, member.given_name, member.display)],
    }


def practitioner_role(member: MemberData, person: Resource, org: Resource | None) -> Resource:
    """The professional's role (Finnish title) in their organisation."""
    resource: Resource = {
        "resourceType": "PractitionerRole",
        "id": derive("PractitionerRole", member.professional_id),
        "active": True,
        "practitioner": reference(person),
        "code": [
            {
                "coding": [
                    c.coding(
                        c.PROFESSIONAL_ROLE_SYSTEM,
                        member.professional_role,
                        display=string(member.professional_role_display),
                    )
                ],
                "text": string_or(member.professional_role_display, member.professional_role),
            }
        ],
    }
    if org is not None:
        resource["organization"] = reference(org)
    return resource


@dataclass
class People:
    """The people and organisations of one export, by the ids the snapshot uses."""

    patients: dict[uuid.UUID, Resource] = field(default_factory=dict)
    related: dict[tuple[uuid.UUID, uuid.UUID], Resource] = field(default_factory=dict)
    organizations: dict[uuid.UUID, Resource] = field(default_factory=dict)
    practitioners: dict[uuid.UUID, Resource] = field(default_factory=dict)
    roles_by_user: dict[int, Resource] = field(default_factory=dict)
    persons_by_user: dict[int, PersonData] = field(default_factory=dict)
    group: Resource = field(default_factory=dict)

    def resources(self) -> list[Resource]:
        """Every resource here, in a fixed order."""
        return [
            *self.patients.values(),
            *self.related.values(),
            self.group,
            *self.organizations.values(),
            *self.practitioners.values(),
            *{id(r): r for r in self.roles_by_user.values()}.values(),
        ]

    def author(self, user_id: int | None, display: str, child_id: uuid.UUID | None) -> Resource:
        """Who wrote something, as an Annotation author: a reference when the Bundle holds them.

        A guardian is the RelatedPerson toward `child_id` (or toward their first child); someone
        who is no longer in the team is named by display only.
        """
        if user_id is not None and user_id in self.roles_by_user:
            role = self.roles_by_user[user_id]
            return {"authorReference": {"reference": role["practitioner"]["reference"]}}
        person = self.persons_by_user.get(user_id) if user_id is not None else None
        if person is not None and person.id in self.patients:
            return {"authorReference": reference(self.patients[person.id])}
        if person is not None:
            for wanted in (child_id, *person.guardian_of):
                if (person.id, wanted) in self.related:
                    return {"authorReference": reference(self.related[(person.id, wanted)])}
        return {"authorString": string_or(display, "-")}

    def performer(self, kind: str, action: Any, child_id: uuid.UUID | None) -> dict[str, Any]:
        """The responsible party of an action as a Reference (display only when not exported)."""
        if kind == "member" and action.responsible_user_id in self.roles_by_user:
            return reference(self.roles_by_user[action.responsible_user_id])
        if kind == "organization" and action.responsible_organization_id in self.organizations:
            return reference(self.organizations[action.responsible_organization_id])
        if kind == "child" and action.responsible_person_id in self.patients:
            return reference(self.patients[action.responsible_person_id])
        if kind == "guardian":
            for wanted in (child_id, *self.patients):
                key = (action.responsible_person_id, wanted)
                if key in self.related:
                    return reference(self.related[key])
        return {"display": kind}


def people(snapshot: PlanSnapshot) -> People:
    """Build the Patients, RelatedPersons, family Group, Organizations and practitioners."""
    result = People()
    for child in snapshot.children:
        result.patients[child.id] = patient(child)
    for guardian in snapshot.guardians:
        for child_id in guardian.guardian_of:
            if child_id in result.patients:
                result.related[(guardian.id, child_id)] = related_person(
                    guardian, result.patients[child_id]
                )
    for person in snapshot.persons:
        if person.user_id is not None:
            result.persons_by_user[person.user_id] = person
    result.group = family_group(snapshot, list(result.patients.values()))
    for org in sorted(snapshot.organizations, key=lambda o: str(o.id)):
        result.organizations[org.id] = organization(org)
    for member in snapshot.members:
        if not member.is_professional:
            continue
        if member.professional_id not in result.practitioners:
            result.practitioners[member.professional_id] = practitioner(member)  # type: ignore[index]
        org = result.organizations.get(member.organization_id)  # type: ignore[arg-type]
        role = practitioner_role(member, result.practitioners[member.professional_id], org)  # type: ignore[index]
        # The current membership wins when a user was in the team more than once.
        if member.ended_at is None or member.user_id not in result.roles_by_user:
            result.roles_by_user[member.user_id] = role
    return result


def care_team(snapshot: PlanSnapshot, who: People) -> Resource:
    """The plan's team: professionals through their PractitionerRole, guardians as
    RelatedPersons, children with their own login as Patients; all share the family Group."""
    participants: list[dict[str, Any]] = []
    seen: set[str] = set()
    for member in snapshot.members:
        role_concept = c.concept(c.PLAN_ROLE_SYSTEM, member.role)
        period = _period(member.valid_from, member.ended_at or member.valid_until)
        if member.is_professional and member.user_id in who.roles_by_user:
            target = who.roles_by_user[member.user_id]
        elif member.person_id in who.patients:
            target = who.patients[member.person_id]  # type: ignore[index]
        else:
            continue  # guardians are added below, once per child
        ref = reference(target)
        key = f"{ref['reference']}|{period.get('start')}"
        if key in seen:
            continue
        seen.add(key)
        participants.append({"role": [role_concept], "member": ref, "period": period})
    for related in who.related.values():
        participants.append(
            {"role": [c.concept(c.PLAN_ROLE_SYSTEM, "family")], "member": reference(related)}
        )
    status = "inactive" if snapshot.status == "completed" else "active"
    resource: Resource = {
        "resourceType": "CareTeam",
        "id": derive("CareTeam", snapshot.plan_id),
        "identifier": [{"system": c.PLAN_SYSTEM, "value": str(snapshot.plan_id)}],
        "status": c.code("CareTeam.status", status),
        "subject": reference(who.group),
        "period": _period(snapshot.period_start, snapshot.period_end),
    }
    if participants:
        resource["participant"] = participants
    custodian = who.organizations.get(snapshot.custodian_organization_id)  # type: ignore[arg-type]
    if custodian is not None:
        resource["managingOrganization"] = [reference(custodian)]
    return resource
