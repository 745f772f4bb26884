"""JSON Schemas of every kind, generated from the models, for editors' YAML language servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, create_model

from controller.spec.models import API_VERSION, KINDS, Metadata, Model


def document_model(kind: str) -> type[Model]:
    info = KINDS[kind]
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{kind}Document",
        __base__=Model,
        __config__=None,
        api_version=(Literal["controller/v1"], Field(alias="apiVersion")),  # type: ignore[arg-type, maybe-unrecognized-str-typeform, unused-ignore]
        kind=(Literal[kind], Field(alias="kind")),  # type: ignore[valid-type, arg-type, misc, unused-ignore]
        metadata=(Metadata, Field(alias="metadata")),
        spec=(info.spec, Field(alias="spec")),
    )


def schema_for(kind: str) -> dict[str, Any]:
    schema = document_model(kind).model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://controller.local/schemas/{kind}.json"
    schema["title"] = f"{kind} ({API_VERSION})"
    return schema


def render(kind: str) -> str:
    return json.dumps(schema_for(kind), indent=2, sort_keys=True) + "\n"


def write_schemas(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        p = out / f"{kind}.json"
        p.write_text(render(kind))
        written.append(p)
    return written


