"""Billing: the enterprise's AWS Cost and Usage Report (CUR), attributed, discounted and budgeted.

Data flow: ``cur`` streams the report files of a month out of S3 into a small aggregate;
``report`` attributes the aggregate to enterprises, VDCs and VMs, walks the reseller hierarchy and
checks budgets; ``render`` and ``html`` turn the one Report object into table, JSON, CSV or HTML.
"""

from __future__ import annotations

# The ownership tags the controller puts on every resource it creates (see controller/kinds/base.py).
# Activated as cost allocation tags, they appear in the CUR as `resourceTags/user:<key>` columns.
TAG_ENTERPRISE = "controller:enterprise"
TAG_ADDRESS = "controller:address"
COL_TAG_ENTERPRISE = f"resourceTags/user:{TAG_ENTERPRISE}"
COL_TAG_ADDRESS = f"resourceTags/user:{TAG_ADDRESS}"

# CUR (legacy, "v1") columns the report reads.
COL_LINE_ITEM_ID = "identity/LineItemId"
COL_USAGE_START = "lineItem/UsageStartDate"
COL_ACCOUNT = "lineItem/UsageAccountId"
COL_PRODUCT = "lineItem/ProductCode"
COL_RESOURCE = "lineItem/ResourceId"
COL_COST = "lineItem/UnblendedCost"
COL_TYPE = "lineItem/LineItemType"
COL_CURRENCY = "lineItem/CurrencyCode"

REQUIRED_COLUMNS = (COL_USAGE_START, COL_ACCOUNT, COL_PRODUCT, COL_COST)

UNTAGGED = "(untagged)"
NO_VDC = "(no vdc)"
NOT_A_VM = "(other resources)"

DIMENSIONS = ("service", "vdc", "vm", "account")
TAG_DIMENSION = "tag:"  # --by tag:KEY: one of your tags, from the CUR's resourceTags/user:KEY column


def tag_column(by: str) -> str | None:
    """The CUR column of a `tag:KEY` dimension, or None for the others."""
    return f"resourceTags/user:{by[len(TAG_DIMENSION):]}" if by.startswith(TAG_DIMENSION) else None
