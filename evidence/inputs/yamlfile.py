"""The one YAML loader for every YAML file the project reads (protocols, rule sets, claims,
citations, search configurations).

Safe and bounded: no Python objects (a safe loader); no anchors or aliases at all (none of the
project's files uses one, and an alias "bomb" of nested references expands to billions of
nodes for whatever walks the result); no key given twice in one mapping (YAML keeps the last
silently); numbers only in plain decimal (YAML 1.1 would read `1_000`, `0x1F` or `1:30` as
integers, and `.nan` / `.inf` as floats); a size cap before parsing (`textfile.MAX_INPUT_BYTES`),
and libyaml's own nesting limit. Every refusal is an `InputFileError` naming file:line:column.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode

from evidence.inputs.textfile import InputFileError, parse_number, read_text

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it


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


def _no_aliases(text: str, label: str) -> None:
    """Refuse any anchor or alias before anything is composed (linear in the text)."""
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark
            raise InputFileError(
                label,
                "YAML anchors and aliases (& and *) are not accepted in input files; "
                "write the value out",
                mark.line + 1,
                mark.column + 1,
            )


def _error(exc: yaml.YAMLError, label: str) -> InputFileError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return InputFileError(label, f"not valid YAML: {problem}")
    return InputFileError(label, f"not valid YAML: {problem}", mark.line + 1, mark.column + 1)


def parse_yaml(text: str, label: str) -> Any:
    """One YAML document from `text`, under the rules above."""
    try:
        _no_aliases(text, label)
        return yaml.load(text, Loader=StrictLoader)  # StrictLoader is a safe loader
    except yaml.YAMLError as exc:
        raise _error(exc, label) from None
    except RecursionError:
        raise InputFileError(label, "not valid YAML: nested too deeply") from None


def load_yaml(path: Path | str, label: str | None = None) -> Any:
    """The YAML file at `path` (read as `textfile.read_text` says), under the rules above."""
    label = label or str(path)
    return parse_yaml(read_text(Path(path), label), label)
