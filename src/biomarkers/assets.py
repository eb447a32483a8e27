"""Locate and load the trial's data files (``assets/``), validated by JSON Schema.

Trial facts live in ``assets/`` as YAML or JSON, each with a JSON Schema beside it;
the same ``schema_input.json`` serves nf-schema in ``main.nf``. In a source
checkout ``src/biomarkers/_assets`` is a link to the top-level ``assets/``; an
installed wheel carries a copy.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import InputError
from .io import load_once

__all__ = ["asset_path", "load_yaml", "load_valid_yaml", "load_json", "load_schema", "validate", "load_config", "load_settings", "settings_from_mapping"]


def asset_path(name: str) -> Path:
    """Path of a file in ``assets/`` (e.g. ``"protocol.yaml"``)."""
    return Path(str(resources.files("biomarkers").joinpath("_assets").joinpath(name))).resolve()


class _Dates:
    """Impossible dates (2025-02-30) are YAML errors with a line, not a ValueError."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"impossible date {node.value!r}: {exc}", node.start_mark) from None


class _Loader(_Dates, yaml.SafeLoader):
    """The pure-Python parser: its messages are the ones users see for a document that is not YAML."""


class _FastLoader(_Dates, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The same constructors over libyaml's parser: a tenth of the time (assets are parsed per
    specimen). A document it refuses is parsed again by :class:`_Loader` for the message."""


for _loader in (_Loader, _FastLoader):
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _loader.construct_yaml_timestamp)


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    try:
        return yaml.load(text, Loader=_FastLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        pass
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - its message, as users have always seen it
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = f"line {mark.line + 1}" if mark is not None else None
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=path, row=row) from None


def load_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=path, row=f"line {exc.lineno}") from None


@cache
def load_schema(name: str) -> dict:
    return load_json(asset_path(name))


def _pointer(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        # name the missing property, not its parent
        missing = error.message.split("'")[1] if "'" in error.message else ""
        parts.append(missing)
    if error.validator == "additionalProperties" and "'" in error.message:
        parts.append(error.message.split("'")[1])
    return ".".join(parts) or "(top level)"


def validate(instance: Any, schema: dict | str, *, file: str | Path) -> None:
    """Validate against a JSON Schema; raise one :class:`InputError` for the first error.

    Errors are ordered by their location in the document so the message is stable.
    """
    if isinstance(schema, str):
        schema = load_schema(schema)
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        err = errors[0]
        value = err.instance if not isinstance(err.instance, (dict, list)) else None
        raise InputError(err.message if value is None else _short_message(err), file=file, field=_pointer(err), value=value)


def _short_message(err: jsonschema.ValidationError) -> str:
    if err.validator == "enum":
        return f"must be one of {', '.join(map(str, err.validator_value))}"
    if err.validator == "pattern":
        return f"does not match the pattern {err.validator_value}"
    return err.message


def load_config(name_or_path: str | Path, schema: str | None = None) -> Any:
    """Load a YAML asset by name (``"tmb.yaml"``) or path, validating it if a schema is named."""
    path = Path(name_or_path)
    if not path.exists() and not path.is_absolute() and len(path.parts) == 1:
        path = asset_path(str(name_or_path))
    return load_valid_yaml(path, schema)


def load_valid_yaml(path: str | Path, schema: str | None) -> Any:
    """A YAML file, validated against the named schema when one is; parsed and validated once per
    process while the file is unchanged (``io.load_once``), a fresh copy each call."""
    return copy.deepcopy(load_once(path, _parse_and_validate, schema))


def _parse_and_validate(path: Path, schema: str | None) -> Any:
    data = load_yaml(path)
    if schema:
        validate(data, schema, file=path)
    return data


T = typing.TypeVar("T")


def settings_from_mapping(cls: type[T], data: typing.Mapping[str, Any]) -> T:
    """A frozen settings dataclass (nested ones included) from a validated mapping.

    Keys the mapping lacks take the dataclass default; lists become tuples, so
    settings stay immutable and hashable. The JSON Schema, checked before, says what
    may be there: a key the dataclass does not declare is a programming error.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise TypeError(f"{cls.__name__} does not declare {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind) and isinstance(value, typing.Mapping):
            value = settings_from_mapping(kind, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def load_settings(cls: type[T], path: str | Path | None, *, default: str, schema: str) -> T:
    """Load the YAML at ``path`` (or the bundled asset ``default``), validate it, and type it as ``cls``."""
    return settings_from_mapping(cls, load_config(path or default, schema))
