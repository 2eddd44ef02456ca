"""Reading YAML with line numbers, duplicate-key detection and YAML 1.2 scalars.

PyYAML follows YAML 1.1, where ``16:9`` is the base-60 integer 969, ``0010`` is octal 8,
``yes``/``no``/``on``/``off`` are booleans and ``2026-03-01`` is a date. In a batch file
those are surprises, so this loader resolves plain scalars as YAML 1.2's core schema does:
``true``/``false``, decimal integers, decimal fractions, ``null``/``~``; everything else is
a string. Every plain scalar these rules read as a number or a boolean is one in YAML 1.1
too, so PyYAML's dumper quotes it when it is a string, and what it writes reads back the same.

PyYAML also keeps the last of two equal keys in a mapping silently; here they are reported.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reelforge.batch.shapes import Loc

__all__ = ["YamlDocument", "YamlSyntaxError", "load_yaml"]

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_MERGE = "tag:yaml.org,2002:merge"
_REPLACED = {_INT, _FLOAT, _BOOL, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}


class _Loader(yaml.SafeLoader):
    """A safe loader with YAML 1.2 core-schema scalars."""

    def construct_yaml_int(self, node: ScalarNode) -> int:
        # Only decimal integers resolve to this tag here (see the resolver below).
        return int(str(self.construct_scalar(node)), 10)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Loader.add_constructor(_INT, _Loader.construct_yaml_int)


class YamlSyntaxError(Exception):
    """The text is not YAML (or not one document of it); ``line`` is 1-based, if known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(kw_only=True)
class YamlDocument:
    """A parsed YAML document: its data, the line of every path, and its duplicate keys."""

    data: object
    lines: dict[Loc, int] = field(default_factory=dict)
    duplicates: list[tuple[Loc, int, int]] = field(default_factory=list)
    """``(path, line, first line)`` for each key that appears again in its mapping."""


def load_yaml(text: str) -> YamlDocument:
    """Parse one YAML document. Raises :class:`YamlSyntaxError`."""
    try:
        loader = _Loader(text)  # checks every character first: may raise a ReaderError
    except yaml.reader.ReaderError as exc:
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        message = f"invalid YAML: character U+{ord(character):04X} is not allowed ({exc.reason})"
        raise YamlSyntaxError(message, text.count("\n", 0, exc.position) + 1) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(data=None)
        document = YamlDocument(data=None)
        _walk(loader, node, (), document, set())
        document.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise YamlSyntaxError(*_describe(exc)) from exc
    except RecursionError as exc:
        raise YamlSyntaxError("invalid YAML: nested too deeply", None) from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise YamlSyntaxError(f"invalid YAML: {exc}", None) from exc
    finally:
        loader.dispose()
    return document


def _walk(loader: _Loader, node: Node, loc: Loc, doc: YamlDocument, seen: set[int]) -> None:
    """Record the line of every path below ``node`` and every duplicate key."""
    if id(node) in seen:  # an alias: its first occurrence was walked already
        return
    seen.add(id(node))
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            doc.lines[(*loc, index)] = item.start_mark.line + 1
            _walk(loader, item, (*loc, index), doc, seen)
    elif isinstance(node, MappingNode):
        first_lines: dict[Hashable, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE:
                _walk(loader, value_node, loc, doc, seen)
                continue
            key = loader.construct_object(key_node)
            if not isinstance(key, Hashable):
                raise ConstructorError(None, None, "found an unhashable key", key_node.start_mark)
            line = key_node.start_mark.line + 1
            part = key if isinstance(key, str | int) else str(key)
            if key in first_lines:
                doc.duplicates.append(((*loc, part), line, first_lines[key]))
            else:
                first_lines[key] = line
            doc.lines[(*loc, part)] = line
            _walk(loader, value_node, (*loc, part), doc, seen)


def _describe(exc: yaml.MarkedYAMLError) -> tuple[str, int | None]:
    """``found unexpected end of stream (while scanning a quoted scalar on line 3)``."""
    mark = exc.problem_mark or exc.context_mark
    message = f"invalid YAML: {exc.problem or exc.context or 'unreadable'}"
    if exc.context and exc.problem:
        where = exc.context_mark
        on = f" on line {where.line + 1}" if where is not None and where is not mark else ""
        message += f" ({exc.context}{on})"
    return message, mark.line + 1 if mark is not None else None
