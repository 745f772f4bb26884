"""Partitions: an enterprise in aws-cn or aws-us-gov works end to end, and a role of another
partition is a validation error."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import write_specs

CN = """\
apiVersion: controller/v1
kind: Enterprise
metadata: {name: dragon}
spec:
  provider: aws-cn
  account: "333333333333"
  credentials:
    assumeRole: {roleArn: "arn:ROLE_PARTITION:iam::333333333333:role/controller"}
  regions: [cn-north-1]
---
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: bj, enterprise: dragon}
spec: {region: cn-north-1, addressRange: 10.8.0.0/16, network: {type: none}}
"""


def test_role_of_another_partition_is_refused(cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"e.yaml": CN.replace("ROLE_PARTITION", "aws")})
    r = cli("validate", "--specs", str(specs))
    assert r.code == 1
    assert "e.yaml:8:" in r.err and "is in partition aws, the enterprise in aws-cn" in r.err, r.err


def test_china_partition_end_to_end(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"e.yaml": CN.replace("ROLE_PARTITION", "aws-cn")})
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    assert cli("plan", "--specs", str(specs)).code == 0
