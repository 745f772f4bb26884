"""schemas/ is generated from the models and committed; editors validate specs against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.spec.loader import discover, load_file
from controller.spec.models import KINDS
from controller.spec.schema import render
from controller.spec.validate import parse_document

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
SPECS = ROOT / "specs"

STALE = "schemas/ is out of date with the models: run `make schemas` (or `controller schemas`) and commit it"


@pytest.mark.parametrize("kind", list(KINDS))
def test_committed_schema_is_current(kind: str) -> None:
    path = SCHEMAS / f"{kind}.json"
    assert path.exists(), f"schemas/{kind}.json is missing. {STALE}"
    assert path.read_text() == render(kind), f"schemas/{kind}.json differs. {STALE}"


def test_no_schema_for_a_kind_that_is_gone() -> None:
    extra = {p.stem for p in SCHEMAS.glob("*.json")} - set(KINDS)
    assert not extra, f"schemas for unknown kinds {sorted(extra)}. {STALE}"


def test_schemas_command_writes_the_same(cli, tmp_path: Path) -> None:
    run = cli("schemas", "--out", str(tmp_path / "out"))
    assert run.code == 0, run.err
    for kind in KINDS:
        assert (tmp_path / "out" / f"{kind}.json").read_text() == (SCHEMAS / f"{kind}.json").read_text()


def _spec_documents() -> list[tuple[str, int, dict]]:
    out = []
    for path in discover(SPECS):
        docs, diags = load_file(path, display=str(path.relative_to(ROOT)))
        assert not diags, [d.render() for d in diags]
        out += [(doc.file, doc.line, doc) for doc in docs]
    return out


DOCS = _spec_documents()


@pytest.mark.parametrize("file,line,doc", DOCS, ids=[f"{f}:{ln}" for f, ln, _ in DOCS])
def test_spec_documents_pass_their_schema_and_the_validator(file: str, line: int, doc) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    kind = doc.data["kind"]
    schema = json.loads((SCHEMAS / f"{kind}.json").read_text())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in jsonschema.Draft202012Validator(schema).iter_errors(doc.data)]
    assert not errors, f"{file}:{line} fails schemas/{kind}.json: {errors}"
    resource, diags = parse_document(doc)  # and the models agree, document by document
    assert resource is not None, [d.render() for d in diags]


INVALID = [
    ("unknown-field", "VirtualMachine", {"template": "al2023", "hardwareProfile": "t3.micro",
                                         "nics": [{"network": "default"}], "sshkey": "alice"}),
    ("bad-enum", "VirtualMachine", {"template": "al2023", "hardwareProfile": "t3.micro",
                                    "nics": [{"network": "default"}], "state": "running"}),
    ("missing-required", "Volume", {"type": "gp3"}),
    ("wrong-type", "Volume", {"sizeGiB": "big"}),
    ("bad-protocol", "Firewall", {"ingress": [{"protocol": "tcpp", "ports": "22", "from": ["0.0.0.0/0"]}]}),
    ("empty-nics", "VirtualMachine", {"template": "al2023", "hardwareProfile": "t3.micro", "nics": []}),
]


@pytest.mark.parametrize("kind,spec", [(k, s) for _, k, s in INVALID], ids=[i for i, _, _ in INVALID])
def test_schema_catches_what_an_editor_should(kind: str, spec: dict) -> None:
    """The schema is strict where the models are: what it rejects, `controller validate` rejects too."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS / f"{kind}.json").read_text())
    data = {"apiVersion": "controller/v1", "kind": kind, "metadata": {"name": "x", "enterprise": "acme", "vdc": "web"},
            "spec": spec}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    from controller.spec.loader import Document

    resource, diags = parse_document(Document("x.yaml", 0, data, 1, 1))
    assert resource is None and diags


def test_schema_rejects_a_bad_name_and_api_version() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS / "User.json").read_text())
    ok = {"apiVersion": "controller/v1", "kind": "User", "metadata": {"name": "bob", "enterprise": "acme"},
          "spec": {"sshPublicKey": "ssh-ed25519 AAAA bob"}}
    v = jsonschema.Draft202012Validator(schema)
    assert not list(v.iter_errors(ok))
    assert list(v.iter_errors({**ok, "metadata": {"name": "Bob_1", "enterprise": "acme"}}))
    assert list(v.iter_errors({**ok, "apiVersion": "controller/v2"}))
    assert list(v.iter_errors({**ok, "kind": "VirtualMachine"}))
