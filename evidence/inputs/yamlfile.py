"""The one YAML loader for the inputs a run reads (protocols, rule sets, claims, citations).

Safe and bounded: no Python objects (a safe loader); aliases only within a budget (none of the
project's own files uses one, but `yaml.safe_dump` writes them for shared values; an alias
"bomb" of nested references would expand to billions of values for whatever walks the result,
so a document past `MAX_NODES` values once expanded is refused before it is built); no key
given twice in one mapping (YAML keeps the last silently); numbers only in plain decimal
(YAML 1.1 would read `1_000`, `0x1F` or `1:30` as
integers, and `.nan` / `.inf` as floats); a size cap before parsing (`textfile.MAX_INPUT_BYTES`),
and libyaml's own nesting limit. Every refusal is an `InputFileError` naming file:line:column.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from evidence.inputs.textfile import InputFileError, parse_number, read_text

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it
# The most values a document may hold with its aliases expanded: the bundled files hold a few
# thousand; an alias bomb of ten nested lists of nine holds billions.
MAX_NODES = 200_000


class StrictLoader(_Base):  # type: ignore[misc, valid-type]
    """SafeLoader (libyaml's when available) refusing duplicate keys and non-decimal numbers."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found an unhashable key",
                    key_node.start_mark,
                ) from None
            if key in seen:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found key {key!r} again (first on line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        return self._number(node, integer=True)  # type: ignore[return-value]

    def construct_yaml_float(self, node: ScalarNode) -> float:
        return float(self._number(node, integer=False))

    def _number(self, node: ScalarNode, integer: bool) -> float | int:
        text = str(self.construct_scalar(node))
        try:
            value = parse_number(text, integer=integer)
        except ValueError as exc:
            raise ConstructorError(None, None, f"number {text!r}: {exc}", node.start_mark) from None
        return value


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
StrictLoader.add_constructor("tag:yaml.org,2002:float", StrictLoader.construct_yaml_float)
# YAML 1.1 reads `1e-3` and `1.0e400` (no sign after the e) as strings, which a model would then
# coerce to numbers past these checks (1.0e400 to inf): they are numbers here, parsed as above.
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _expanded_size(root: Node) -> int:
    """How many nodes the document holds once every alias is expanded: linear in the composed
    graph (each node counted once, its size remembered), stopping past `MAX_NODES`."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        if done:
            sizes[id(node)] = min(MAX_NODES + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _error(exc: yaml.YAMLError, label: str) -> InputFileError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return InputFileError(label, f"not valid YAML: {problem}")
    return InputFileError(label, f"not valid YAML: {problem}", mark.line + 1, mark.column + 1)


def parse_yaml(text: str, label: str) -> Any:
    """One YAML document from `text`, under the rules above."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            mark = node.start_mark
            raise InputFileError(
                label,
                f"more than {MAX_NODES} values once its aliases (*) are expanded "
                "(an alias bomb?); write the values out",
                mark.line + 1,
                mark.column + 1,
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _error(exc, label) from None
    except RecursionError:
        raise InputFileError(label, "not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def load_yaml(path: Path | str, label: str | None = None) -> Any:
    """The YAML file at `path` (read as `textfile.read_text` says), under the rules above."""
    label = label or str(path)
    return parse_yaml(read_text(Path(path), label), label)
