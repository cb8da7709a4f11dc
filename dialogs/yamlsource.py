"""Reading YAML while remembering where each value came from, for errors that name file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError


@dataclass
class YamlProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class YamlInvalid(ValueError):
    """A YAML file that cannot be used; `problems` name file, line and what to fix."""

    def __init__(self, problems: list[YamlProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def _build(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_scalar(yaml.SafeLoader(""), key_node)  # type: ignore[arg-type]
            out[key] = _build(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines) for i, item in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    return loader.construct_object(node, deep=True)


def load_yaml(text: str, filename: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML text into plain data plus a map from each value's path to its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlInvalid([YamlProblem(filename, line, f"invalid YAML: {problem}")]) from None
    lines: dict[Path_, int] = {}
    if node is None:
        return None, lines
    return _build(node, (), lines), lines


def line_of(lines: dict[Path_, int], loc: Path_) -> int:
    """The line of the deepest part of `loc` that exists in the file."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def validate(model: type[M], data: Any, lines: dict[Path_, int], filename: str) -> M:
    """Validate data against a pydantic model; errors become YamlInvalid with lines."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc) or "(top)"
            problems.append(YamlProblem(filename, line_of(lines, loc), f"{where}: {err['msg']}"))
        raise YamlInvalid(problems) from None


def load_file(model: type[M], path: str | Path) -> M:
    """Read, parse and validate one YAML file."""
    return read_file(model, path)[0]


def read_file(model: type[M], path: str | Path) -> tuple[M, dict[Path_, int]]:
    """Read, parse and validate one YAML file; also the line of each of its values."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlInvalid([YamlProblem(str(p), 1, f"cannot read file: {exc}")]) from None
    data, lines = load_yaml(text, str(p))
    return validate(model, data, lines, str(p)), lines
