"""The JSON API's contract as it appears in the generated OpenAPI document.

The request body is checked by :func:`shared.domain.requestform.validate` (one message per
wrong field in the request's language); this model only documents it. A test keeps the two
in step.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Text = str


class SupportRequestBody(BaseModel):
    """A support request (docs/domain.md 2). Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "company": "Muster GmbH", "first_name": "Erika", "last_name": "Mustermann",
        "email": "erika@muster.de", "phone": "+49 30 123456", "street": "Hauptstraße 5",
        "postcode": "10115", "city": "Berlin", "short_description": "Drucker druckt nicht",
        "additional_backup": False, "backup_acknowledged": True, "priority": False,
        "priority_acknowledged": True, "commercial_customer": True, "language": "de"}})

    company: Text | None = Field(None, max_length=150, description="Company or organisation. "
                                 "If given, it is the contract party and the person only the "
                                 "contact; otherwise the person is the contract party.")
    first_name: Text = Field(max_length=100)
    last_name: Text = Field(max_length=100)
    email: Text = Field(max_length=254, description="The contact's address; receipts go here.")
    phone: Text = Field(max_length=40, description="Digits, +, spaces, brackets, / or -.")
    street: Text = Field(max_length=150)
    postcode: Text = Field(max_length=10)
    city: Text = Field(max_length=100)
    short_description: Text = Field(min_length=4, max_length=80,
                                    description="4 to 80 characters after trimming.")
    subject_description: Text | None = Field(None, max_length=4000,
                                             description="Affected system, free text.")
    location: Text | None = Field(None, max_length=200)
    system_name: Text | None = Field(None, max_length=200)
    manufacturer: Text | None = Field(None, max_length=200)
    model: Text | None = Field(None, max_length=200)
    purchase_date: date | None = Field(None, description="YYYY-MM-DD, not in the future.")
    accessories: Text | None = Field(None, max_length=4000)
    operating_system: Text | None = Field(None, max_length=200)
    operating_system_version: Text | None = Field(None, max_length=200)
    application: Text | None = Field(None, max_length=200)
    application_version: Text | None = Field(None, max_length=200)
    error_message: Text | None = Field(None, max_length=4000,
                                       description="The error message word for word.")
    expected_behaviour: Text | None = Field(None, max_length=4000)
    actual_behaviour: Text | None = Field(None, max_length=4000)
    additional_backup: bool = Field(description="True: the customer asks for an additional "
                                    "backup. False requires backup_acknowledged.")
    backup_acknowledged: bool = Field(False, description="A regular backup was made or is "
                                      "not needed; the duty of data backup (terms § 10 no. 4) "
                                      "is known. Required when additional_backup is false.")
    priority: bool = Field(False, description="True: handled at once, 24/7, by the technician "
                           "on call; surcharges outside business time.")
    priority_acknowledged: bool = Field(False, description="No surcharges ever; an answer "
                                        "within business time is enough. Required when "
                                        "priority is false.")
    commercial_customer: bool = Field(description="The customer acts commercially. Must be "
                                      "true.")
    language: Literal["de", "en"] | None = Field(None, description="Language of the ticket and "
                                                 "of error messages (default: Accept-Language, "
                                                 "then de).")


class RequestAccepted(BaseModel):
    case_number: str = Field(description="The Service-Auftragsnummer (with check digit).")
    status_url: str = Field(description="The secret live-status link of the ticket.")
    language: Literal["de", "en"]
    redacted_fields: list[str] = Field(description="Fields in which credentials were found "
                                       "and removed before storing.")
    notice: str | None = Field(None, description="What the customer must be told about "
                               "removed credentials, in the request's language.")
    replayed: bool = Field(False, description="True when the Idempotency-Key was seen before "
                           "and the first ticket is answered again.")


class Problem(BaseModel):
    message: str
    errors: dict[str, str] = Field(default_factory=dict,
                                   description="One message per wrong field.")
