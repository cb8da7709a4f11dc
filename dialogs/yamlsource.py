"""Reading YAML while remembering where each value came from, for errors that name file, line and column."""

from __future__ import annotations

import difflib
import inspect
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError


@dataclass
class YamlProblem:
    file: str
    line: int
    message: str
    column: int = 1
    hint: str = ""

    def __str__(self) -> str:
        # one line per problem, as compilers print them: editors and CI annotations jump to file:line:column
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}:{self.column}: {self.message}{hint}"


class YamlInvalid(ValueError):
    """A YAML file that cannot be used; `problems` name file, line, column and what to fix."""

    def __init__(self, problems: list[YamlProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class Positions(dict[Path_, int]):
    """Each value's line by its path (a plain mapping for the callers), and its column beside."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: dict[Path_, int] = {}


def _build(node: yaml.Node, path: Path_, lines: Positions) -> Any:
    lines[path] = node.start_mark.line + 1
    lines.columns[path] = node.start_mark.column + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_scalar(yaml.SafeLoader(""), key_node)  # type: ignore[arg-type]
            out[key] = _build(value_node, (*path, key), lines)
            # a problem with a value is shown at its key: `price:` rather than the number after it
            lines[(*path, key)] = key_node.start_mark.line + 1
            lines.columns[(*path, key)] = key_node.start_mark.column + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines) for i, item in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    return loader.construct_object(node, deep=True)


def _syntax_hint(problem: str) -> str:
    if "\t" in problem or "tab" in problem:
        return "YAML indents with spaces, never tabs"
    if "mapping values are not allowed" in problem:
        return "put quotes around a text that contains ': '"
    if "could not find expected ':'" in problem or "expected <block end>" in problem:
        return "check the indentation of this line and the one before (same level, same number of spaces)"
    if "found undefined alias" in problem or "found character '*'" in problem or "'@'" in problem:
        return "put quotes around a text that starts with *, & or @"
    return "check the quotes and the indentation around this line"


def load_yaml(text: str, filename: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML text into plain data plus a map from each value's path to its line (`Positions`)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlInvalid([YamlProblem(filename, line, f"invalid YAML: {problem}", column,
                                       _syntax_hint(problem))]) from None
    lines = Positions()
    if node is None:
        return None, lines
    return _build(node, (), lines), lines


def _deepest(lines: Mapping[Path_, int], loc: Path_) -> Path_ | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return loc[:end]
    return None


def line_of(lines: Mapping[Path_, int], loc: Path_) -> int:
    """The line of the deepest part of `loc` that exists in the file."""
    found = _deepest(lines, loc)
    return lines[found] if found is not None else 1


def column_of(lines: Mapping[Path_, int], loc: Path_) -> int:
    """The column of the deepest part of `loc` that exists in the file (1 when unknown)."""
    found = _deepest(lines, loc)
    columns = getattr(lines, "columns", {})
    return columns.get(found, 1) if found is not None else 1


def problem_at(file: str, lines: Mapping[Path_, int], loc: Path_, message: str, hint: str = "") -> YamlProblem:
    """A problem placed at the deepest part of `loc` the file has."""
    return YamlProblem(file, line_of(lines, loc), message, column_of(lines, loc), hint)


def _models(annotation: Any) -> list[Any]:
    """The types a value of `annotation` may be, unions and Optional unfolded."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _models(arg)]
    return [annotation]


def _descend(annotation: Any, part: str | int) -> Any:
    for kind in _models(annotation):
        if inspect.isclass(kind) and issubclass(kind, BaseModel):
            if kind.__name__ == part:  # pydantic names the union member it tried
                return kind
            if isinstance(part, str) and part in kind.model_fields:
                return kind.model_fields[part].annotation
            continue
        origin, args = get_origin(kind), get_args(kind)
        if isinstance(part, int) and origin in (list, tuple, set, Sequence) and args:
            return args[0]
        if isinstance(part, str) and origin in (dict, Mapping) and len(args) == 2:
            return args[1]
    return None


def _fields_at(model: type[BaseModel], loc: Path_) -> list[str]:
    """The field names a mapping at `loc` may have, when the schema says (else none)."""
    current: Any = model
    for part in loc:
        current = _descend(current, part)
        if current is None:
            return []
    return [name for kind in _models(current) if inspect.isclass(kind) and issubclass(kind, BaseModel)
            for name in kind.model_fields]


HINTS = {
    "missing": "add `{field}:` here",
    "int_parsing": "write a whole number, e.g. 3", "int_type": "write a whole number, e.g. 3",
    "int_from_float": "write a whole number, without decimals",
    "float_parsing": "write a number, e.g. 2.5", "float_type": "write a number, e.g. 2.5",
    "bool_parsing": "write true or false", "bool_type": "write true or false",
    "string_type": "write a text (put it in quotes if it looks like a number or yes/no)",
    "literal_error": "use one of the values listed", "enum": "use one of the values listed",
    "greater_than": "raise the value", "greater_than_equal": "raise the value",
    "less_than": "lower the value", "less_than_equal": "lower the value",
    "too_short": "give at least the number of items asked", "too_long": "shorten it",
    "string_too_short": "this may not be empty", "string_too_long": "shorten the text",
    "dict_type": "write `key: value` lines under it, indented",
    "model_type": "write `key: value` lines under it, indented",
    "model_attributes_type": "write `key: value` lines under it, indented",
    "list_type": "write a list: one `- item` per line, or [a, b]",
}


def _hint(err: Mapping[str, Any], model: type[BaseModel], loc: Path_) -> str:
    kind = err.get("type", "")
    field = str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(field, known, n=1)
        if close:
            return f"did you mean `{close[0]}`?"
        return f"known fields here: {', '.join(known)}" if known else "remove it, or check its spelling"
    if kind == "string_pattern_mismatch":
        if field == "code":
            return "capital letters and digits, starting with a letter, e.g. ROBE1"
        if field == "id":
            return "small letters, digits, - and _, e.g. boutique-awa"
        return "change the value to match the pattern shown"
    if kind in HINTS:
        return HINTS[kind].format(field=field)
    return "" if kind == "value_error" else "`palabre schema` writes what each field takes, for your editor"


def validate(model: type[M], data: Any, lines: Mapping[Path_, int], filename: str) -> M:
    """Validate data against a pydantic model; errors become YamlInvalid with line, column and a hint."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc) or "(top)"
            problems.append(problem_at(filename, lines, loc, f"{where}: {err['msg']}", _hint(err, model, loc)))
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
        raise YamlInvalid([YamlProblem(str(p), 1, f"cannot read file: {exc}", 1,
                                       "save the file as UTF-8 text" if isinstance(exc, UnicodeDecodeError)
                                       else "check the path")]) from None
    data, lines = load_yaml(text, str(p))
    return validate(model, data, lines, str(p)), lines
