"""Making valid-looking identity codes for demo and test people (never real ones).

Only the temporary range (individual numbers 900-999) is used, which the population register
never gives to a person; python-stdnum validates the result.
"""

from __future__ import annotations

import datetime as dt

from stdnum.fi import hetu

_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY = {1800: "+", 1900: "-", 2000: "A"}


def temporary_identity_code(birth_date: dt.date, individual: int) -> str:
    """A checksummed identity code in the temporary range for `birth_date`."""
    if not 900 <= individual <= 999:
        raise ValueError("individual must be in the temporary range 900-999")
    digits = f"{birth_date:%d%m%y}{individual:03d}"
    code = f"{birth_date:%d%m%y}{_CENTURY[birth_date.year // 100 * 100]}{individual:03d}"
    code += _CHECK[int(digits) % 31]
    return hetu.validate(code, allow_temporary=True)
