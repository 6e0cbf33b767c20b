"""What names and codes may hold. A name (of a study, a person) may not hold control characters: a line break
in a study's name would break every download named after it, and no name needs one. A code (of a therapist,
client or dyad; a session's time point or arm) is written into every table export, so it may not start like a
spreadsheet formula either (``=``, ``+``, ``-``, ``@``; coder.stats.sheetsafe)."""
from __future__ import annotations

import re

from coder.stats import sheetsafe

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def name_problem(what: str, value: str) -> str | None:
    """Why ``value`` cannot name ``what``, or None."""
    if _CONTROL.search(value):
        return f"{what} {value!r} holds a control character (a line break, tab or the like); leave it out"
    return None


def code_problem(what: str, value: str) -> str | None:
    """Why ``value`` cannot be the code of ``what``, or None."""
    problem = name_problem(what, value)
    if problem is None and sheetsafe.cell(value) != value:
        problem = (f"{what} {value!r} starts with {value[0]!r}, which a spreadsheet would take for a formula; "
                   "start it with a letter or digit")
    return problem
