"""Broadcast templates: checking a vendor's template and rendering it for one contact on one channel."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from channels import Reply
from channels.replies import TemplateRef
from storage.campaigns import CampaignContact, CampaignTemplate

PLACEHOLDER = re.compile(r"\{\{\s*(\d{1,2})\s*\}\}")
FIELDS = ("name", "phone", "email", "telegram", "trust_tier")
MAX_TEXT = 4096
NAME = re.compile(r"^[a-z0-9_]{1,512}$")  # Meta's rule for template names


class TemplateInvalid(ValueError):
    """A template a vendor sent that cannot be used, with the reason."""


def _placeholders(text: str | None) -> set[int]:
    return {int(n) for n in PLACEHOLDER.findall(text or "")}


def _whatsapp_body(template: CampaignTemplate) -> str | None:
    if template.whatsapp is None:
        return None
    for component in template.whatsapp.components:
        if str(component.get("type", "")).lower() == "body" and isinstance(component.get("text"), str):
            return component["text"]
    return None


def parse_template(vendor_id: str, body: Any) -> CampaignTemplate:
    """A template from untrusted JSON: its fields checked, its variables matching its placeholders."""
    if not isinstance(body, dict):
        raise TemplateInvalid("the template must be a JSON object")
    try:
        template = CampaignTemplate.model_validate({**body, "vendor_id": vendor_id})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "template"
        raise TemplateInvalid(f"{where}: {first['msg']}") from None
    if not NAME.match(template.name):
        raise TemplateInvalid("name: lowercase letters, digits and _ only (as Meta names templates)")
    if template.whatsapp and not NAME.match(template.whatsapp.name):
        raise TemplateInvalid("whatsapp.name: the approved template's name (lowercase letters, digits, _)")
    texts = {"text": template.text, "sms": template.sms, "telegram": template.telegram, "email": template.email,
             "email_subject": template.email_subject, "whatsapp body": _whatsapp_body(template)}
    if not any(v for k, v in texts.items() if k != "email_subject") and template.whatsapp is None:
        raise TemplateInvalid("give a whatsapp template or a text (text, sms, telegram, email)")
    for where, text in texts.items():
        if text and len(text) > MAX_TEXT:
            raise TemplateInvalid(f"{where}: longer than {MAX_TEXT} characters")
        missing = sorted(n for n in _placeholders(text) if n < 1 or n > len(template.variables))
        if missing:
            raise TemplateInvalid(f"{where}: {{{{{missing[0]}}}}} has no variable (variables has "
                                  f"{len(template.variables)})")
    for i, variable in enumerate(template.variables, 1):
        if variable.field not in FIELDS and not variable.field.startswith("attributes."):
            raise TemplateInvalid(f"variables.{i}: field is one of {', '.join(FIELDS)} or attributes.<name>")
    return template


def values_for(template: CampaignTemplate, contact: CampaignContact) -> list[str]:
    """The variables' values for a contact, each falling back on its default when the contact has none."""
    out = []
    for variable in template.variables:
        if variable.field.startswith("attributes."):
            value = contact.attributes.get(variable.field.removeprefix("attributes."))
        else:
            value = getattr(contact, variable.field, None)
        out.append(str(value).strip() if value else variable.default)
    return out


def fill(text: str, values: list[str]) -> str:
    return PLACEHOLDER.sub(lambda m: values[int(m.group(1)) - 1] if 0 < int(m.group(1)) <= len(values) else "",
                           text)


def text_for(template: CampaignTemplate, channel: str) -> str | None:
    specific = {"sms": template.sms, "telegram": template.telegram, "email": template.email}.get(channel)
    return specific or template.text or template.sms or template.telegram or _whatsapp_body(template)


def render(template: CampaignTemplate, contact: CampaignContact, channel: str, provider: str) -> Reply | None:
    """The message for this contact on this channel; None when the template has nothing for it."""
    values = values_for(template, contact)
    if channel == "whatsapp" and provider == "meta":
        # Outside a conversation window only an approved template may open one.
        if template.whatsapp is None:
            return None
        text = _whatsapp_body(template)
        return Reply(text=fill(text, values) if text else None,
                     template=TemplateRef(name=template.whatsapp.name, language=template.whatsapp.language,
                                          parameters=values))
    text = text_for(template, channel)
    if not text:
        return None
    reply = Reply(text=fill(text, values))
    if channel == "email" and template.email_subject:
        reply.data["subject"] = fill(template.email_subject, values)
    return reply
