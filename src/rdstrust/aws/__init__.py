"""The AWS side of a CA rotation: list the fleet's CAs, check stores against them, rotate.

Needs the optional extra ``rdstrust[aws]`` (boto3), imported only when an API is called: the
modules here load without it, and a missing boto3 becomes
:class:`rdstrust.errors.ToolMissingError` (exit 7) naming the extra.

* :mod:`.client`: options, sessions and clients, botocore errors as one sentence.
* :mod:`.inventory`: instances and clusters with their CA and pending CA rotations.
* :mod:`.readiness`: does each store trust each resource's CA now and after the rotation.
* :mod:`.rotate`: the gated ``modify_db_instance`` / ``modify_db_cluster`` and ``--wait``.
"""

from __future__ import annotations

from rdstrust.aws.client import AwsOptions
from rdstrust.aws.inventory import DbResource, Inventory, ResourceKind, list_resources
from rdstrust.aws.readiness import DEFAULT_TARGET, Readiness, check_readiness
from rdstrust.aws.rotate import RotationPlan, RotationResult, plan_rotation

__all__ = [
    "DEFAULT_TARGET",
    "AwsOptions",
    "DbResource",
    "Inventory",
    "Readiness",
    "ResourceKind",
    "RotationPlan",
    "RotationResult",
    "check_readiness",
    "list_resources",
    "plan_rotation",
]
