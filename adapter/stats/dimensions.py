"""The public names of the statistics dimensions (``--by``, ``?by=``) and the row fields they read."""

from __future__ import annotations

import re

FIELDS = {
    "sex": "sex", "agegroup": "age_band", "kommun": "kommunkod", "region": "region", "provider": "care_provider",
    "month": "month", "template": "template_version", "chapter": "diagnosis_chapter", "capacity": "work_capacity",
    "activity_hours": "activity_band", "prognosis": "prognosis", "debut": "debut_band", "delivery": "delivery_band",
    "consent": "consent", "status": "status", "replacement": "replacement",
}
"""Public name -> field of the statistics row. Besides these, ``activity:<type>`` and ``measure:<code>``."""
MAX_DIMENSIONS = 4
_CODE = re.compile(r"^[a-z0-9-]{1,40}$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])(-\d{2})?$")


def field_of(name: str) -> str | None:
    """The row field (or ``activity:<type>`` / ``measure:<code>``) of a public dimension name; None if unknown."""
    if name in FIELDS:
        return FIELDS[name]
    kind, colon, code = name.partition(":")
    if colon and kind in ("activity", "measure") and _CODE.match(code):
        return name
    return None


def month_of(value: str) -> str | None:
    """``YYYY-MM`` of a month or a date; None when it is neither."""
    match = _MONTH.match(value.strip())
    return f"{match.group(1)}-{match.group(2)}" if match else None
