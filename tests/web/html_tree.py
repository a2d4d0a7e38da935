"""A small HTML tree for tests that read a page's data back (standard library only)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return re.sub(r"\s+", " ", "".join(parts)).strip()

    def all(self, tag: str | None = None, **attrs: str | bool) -> list[Node]:
        """Descendants (depth first) with `tag` and attributes: a value, or True for present."""
        out = []
        for child in self.children:
            if isinstance(child, str):
                continue
            if (tag is None or child.tag == tag) and all(
                (_attr(name) in child.attrs) if want is True else _matches(child, name, want)
                for name, want in attrs.items()
            ):
                out.append(child)
            out.extend(child.all(tag, **attrs))
        return out

    def one(self, tag: str | None = None, **attrs: str | bool) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]

    def data(self, name: str) -> Any:
        """A `data-` attribute read as JSON (as the pages write raw values)."""
        return json.loads(self.attrs[f"data-{name}"])

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


def _attr(name: str) -> str:
    """`class_` -> "class", `data_type` -> "data-type"."""
    return name.rstrip("_").replace("_", "-")


def _matches(node: Node, name: str, want: str | bool) -> bool:
    if _attr(name) == "class":
        return str(want) in node.classes()
    return node.attrs.get(_attr(name)) == want


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: bytes | str) -> Node:
    builder = _Builder()
    builder.feed(html.decode() if isinstance(html, bytes) else html)
    return builder.root
