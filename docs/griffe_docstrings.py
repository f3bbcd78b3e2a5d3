"""A Griffe extension for the API reference: the kit's docstrings use a few reStructuredText
habits (``:func:`name``` roles, ``::`` before a literal block, ``>>>`` examples without a
section) and, in argument lists, name several arguments in one item that may run over two
lines; this turns them into the Markdown and Google-style sections mkdocstrings renders. The
sources are left as they are. Registered under ``extensions`` of the Python handler in
``mkdocs.yml``.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):`~?([^`]+)`")
LITERAL_MARK = re.compile(r"(?<=\S)::$")
SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|"
                     r"Other Parameters|Raises|Exceptions|Warns|Attributes):\s*$")
NAMES = r"\**[\w.]+(?:\s*,\s*\**[\w.]+)*"
ITEM = re.compile(rf"^\s*{NAMES}\s*(?:\([^)]*\))?\s*:(?:\s|$)")
NAMES_GO_ON = re.compile(rf"^\s*{NAMES}\s*,\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def tidy_sections(lines: list[str]) -> list[str]:
    """Within an argument or exception section, join an item's names that run over two lines,
    and indent a line that starts no item under the item before it (its continuation)."""
    out, index = [], 0
    while index < len(lines):
        out.append(lines[index])
        if not SECTION.match(lines[index]):
            index += 1
            continue
        header = _indent(lines[index])
        index += 1
        item_indent = None
        while index < len(lines):
            line = lines[index]
            if line.strip() and _indent(line) <= header:
                break
            if line.strip() and item_indent is None:
                item_indent = _indent(line)
            at_item_indent = bool(line.strip()) and _indent(line) == item_indent
            if at_item_indent and NAMES_GO_ON.match(out[-1]):
                out[-1] = f"{out[-1].rstrip()} {line.strip()}"
            elif at_item_indent and not (ITEM.match(line) or NAMES_GO_ON.match(line)):
                out.append(" " * (item_indent + 4) + line.strip())
            else:
                out.append(line)
            index += 1
    return out


def to_markdown(text: str) -> str:
    """Markdown for a docstring written with reStructuredText habits."""
    text = ROLE.sub(lambda match: f"`{match[1]}`", text)
    text = "\n".join(tidy_sections(text.splitlines()))
    lines, out, fenced, index = text.splitlines(), [], False, 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
        if not fenced and stripped.startswith(">>>"):
            # A doctest run (prompts and the output after them) up to the next blank line.
            margin = line[: _indent(line)]
            end = index
            while end < len(lines) and lines[end].strip():
                end += 1
            out += [f"{margin}```pycon", *lines[index:end], f"{margin}```"]
            index = end
            continue
        if not fenced and stripped == "::":
            line = ""  # a bare literal-block marker: the indented block below stays code
        elif not fenced:
            line = LITERAL_MARK.sub(":", line)
        out.append(line)
        index += 1
    return "\n".join(out)


class ReadRestAsMarkdown(griffe.Extension):
    """Rewrite every docstring with ``to_markdown`` once the object is loaded."""

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)

    def on_package(self, *, pkg, **kwargs) -> None:
        # A top-level package gets no ``on_object`` call of its own.
        self.on_object(obj=pkg)
