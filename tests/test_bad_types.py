"""Lenient types: a boolean is not an integer, digits are ASCII (the loader's type family, in process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.spec.diagnostics import SpecError
from controller.spec.validate import load_specs
from tests.helpers import DEFAULT_VDC, enterprise_doc, write_specs

VOLUME = """\
apiVersion: controller/v1
kind: Volume
metadata: {{name: data, enterprise: acme, vdc: web}}
spec: {{{spec}}}
"""
FIREWALL = """\
apiVersion: controller/v1
kind: Firewall
metadata: {{name: fw, enterprise: acme, vdc: web}}
spec:
  ingress: [{{protocol: tcp, ports: {ports}, from: [0.0.0.0/0]}}]
"""


def errors(tmp_path: Path, files: dict[str, str]) -> list[str]:
    root = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC, **files})
    try:
        load_specs(root)
    except SpecError as e:
        return [d.render() for d in e.diagnostics]
    return []


@pytest.mark.parametrize("spec, field", [
    ("sizeGiB: true", "sizeGiB"),
    ("sizeGiB: 8, type: gp3, iops: true", "iops"),
    ("sizeGiB: '8'", "sizeGiB"),
    ("sizeGiB: 8.5", "sizeGiB"),
    ("sizeGiB: 8, encrypted: 1", "encrypted"),
    ("sizeGiB: 8, encrypted: 'yes'", "encrypted"),
], ids=["bool-size", "bool-iops", "string-size", "float-size", "int-bool", "string-bool"])
def test_no_coercion(tmp_path: Path, spec: str, field: str) -> None:
    errs = errors(tmp_path, {"vol.yaml": VOLUME.format(spec=spec)})
    assert len(errs) == 1, errs
    assert errs[0].startswith("vol.yaml:4:") or "vol.yaml:4:" in errs[0], errs
    assert f"spec.{field}" in errs[0], errs


def test_protect_is_a_boolean(tmp_path: Path) -> None:
    doc = VOLUME.format(spec="sizeGiB: 8").replace("vdc: web}", "vdc: web, protect: 1}")
    errs = errors(tmp_path, {"vol.yaml": doc})
    assert len(errs) == 1 and "metadata.protect" in errs[0], errs


def test_a_plain_integer_is_fine(tmp_path: Path) -> None:
    assert errors(tmp_path, {"vol.yaml": VOLUME.format(spec="sizeGiB: 8"), "fw.yaml": FIREWALL.format(ports=22)}) == []


@pytest.mark.parametrize("ports", ["'２２'", "'８０-９０'", "'٢٢'"], ids=["fullwidth", "fullwidth-range", "arabic-indic"])
def test_ports_are_ascii_digits(tmp_path: Path, ports: str) -> None:
    errs = errors(tmp_path, {"fw.yaml": FIREWALL.format(ports=ports)})
    assert len(errs) == 1 and "ports" in errs[0] and "fw.yaml:5:" in errs[0], errs


def test_account_is_ascii_digits(tmp_path: Path) -> None:
    ent = enterprise_doc(account="１１１１１１１１１１１１")
    root = write_specs(tmp_path / "specs", {"ent.yaml": ent})
    with pytest.raises(SpecError) as e:
        load_specs(root)
    assert any("spec.account" in d.render() and d.file.endswith("ent.yaml") for d in e.value.diagnostics)
