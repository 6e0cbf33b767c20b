"""Long lists a page at a time: the page asked for (query string ``page``), the rows of that page fetched with
LIMIT/OFFSET and the count of all of them in the database, and the links to the other pages, which keep the
list's filters (the rest of the query string)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, request, url_for
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

PAGE_SIZE = 50


@dataclass
class Page:
    number: int  # from 1
    size: int
    total: int  # rows in the whole list
    items: list[Any] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def first(self) -> int:
        """The position of the page's first row in the list, from 1 (0 for an empty list)."""
        return (self.number - 1) * self.size + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0

    def numbers(self, around: int = 2) -> list[int | None]:
        """The page numbers to link: the first, the last and ``around`` either side of this one; None for a gap."""
        keep = {1, self.pages, *range(self.number - around, self.number + around + 1)}
        out: list[int | None] = []
        for n in sorted(k for k in keep if 1 <= k <= self.pages):
            if out and n - (out[-1] or 0) > 1:
                out.append(None)
            out.append(n)
        return out


def number_asked() -> int:
    """The page the query string asks for (``page``); 1 for none or nonsense."""
    value = request.args.get("page", type=int)
    return value if value and value > 0 else 1


def page_of(db: Session, stmt: Select, number: int | None = None, size: int = PAGE_SIZE, scalars: bool = True) -> Page:
    """Page ``number`` (default: the one asked for) of the rows ``stmt`` selects, in its order, and how many it
    selects in all (one COUNT over it). A page past the end gives the last page."""
    number = number_asked() if number is None else max(1, number)
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    number = min(number, max(1, math.ceil(total / size)))
    paged = stmt.limit(size).offset((number - 1) * size)
    items = list(db.scalars(paged).unique()) if scalars else list(db.execute(paged))
    return Page(number, size, total, items)


def page_url(number: int, _anchor: str | None = None) -> str:
    """This list's address at page ``number``, its filters kept."""
    args = request.args.to_dict(flat=False)
    args["page"] = [str(number)]
    return url_for(request.endpoint, **(request.view_args or {}), **args, _anchor=_anchor)


def filter_url(_anchor: str | None = None, **changes: Any) -> str:
    """This list's address with the filters ``changes`` (None: dropped), back on its first page."""
    args = request.args.to_dict(flat=False)
    args.pop("page", None)
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = [str(value)]
    return url_for(request.endpoint, **(request.view_args or {}), **args, _anchor=_anchor)


def register(app: Flask) -> None:
    app.add_template_global(page_url)
    app.add_template_global(filter_url)
