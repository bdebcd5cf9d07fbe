"""Where AWS publishes the RDS CA bundles, and how AWS spells regions.

This is the one place that knows AWS's URLs and region codes: the download location of each
partition's bundle (AWS RDS user guide, "Certificate bundles by AWS Region"), and the patterns
a region code follows in a URL or ``--region`` (``us-east-1``) and in a CA's subject
(``Amazon RDS Beta us-east-1 Root CA RSA2048 G1``).
"""

from __future__ import annotations

import re
from enum import Enum

from rdstrust.errors import UsageError

#: A region code as AWS spells it: us-east-1, ap-southeast-2, us-gov-west-1, cn-northwest-1.
REGION_CODE = r"[a-z]{2}(?:-[a-z]+)+-\d+"
#: A region as CA subjects name it: a code, or a pseudo-region ("Beta us-east-1").
SUBJECT_REGION = rf"(?:(?:Beta|Preview) )?{REGION_CODE}"
_REGION = re.compile(REGION_CODE)


class Partition(str, Enum):
    """The AWS partition whose trust store host serves the bundle."""

    AWS = "aws"
    AWS_US_GOV = "aws-us-gov"
    AWS_CN = "aws-cn"

    def __str__(self) -> str:
        return self.value


class BundleFormat(str, Enum):
    """The file format AWS publishes the bundle in."""

    PEM = "pem"
    P7B = "p7b"

    def __str__(self) -> str:
        return self.value


#: The official trust store hosts. GovCloud serves both us-gov regions from the us-gov-west-1
#: host; China serves both cn regions from an S3 bucket in cn-north-1.
HOSTS = {
    Partition.AWS: "https://truststore.pki.rds.amazonaws.com",
    Partition.AWS_US_GOV: "https://truststore.pki.us-gov-west-1.rds.amazonaws.com",
    Partition.AWS_CN: "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn",
}
_PREFIXES = {Partition.AWS_US_GOV: "us-gov-", Partition.AWS_CN: "cn-"}


def partition_of(value: Partition | str) -> Partition:
    """``value`` as a :class:`Partition`; raises :class:`UsageError` for an unknown one."""
    try:
        return Partition(value)
    except ValueError:
        names = ", ".join(p.value for p in Partition)
        raise UsageError(f"--partition {value!r} is unknown; use one of {names}.") from None


def format_of(value: BundleFormat | str) -> BundleFormat:
    """``value`` as a :class:`BundleFormat`; raises :class:`UsageError` for an unknown one."""
    try:
        return BundleFormat(value)
    except ValueError:
        raise UsageError(f"--format {value!r} is unknown; use pem or p7b.") from None


def check_region_code(region: str) -> str:
    """The normalized ``region`` (``global`` or a code such as ``us-east-1``), whatever its
    partition; raises :class:`UsageError` when it is not spelled like a region code.

    :func:`check_region` adds the partition rules; ``verify --region`` only needs this.
    """
    code = region.strip().lower()
    if code != "global" and not _REGION.fullmatch(code):
        raise UsageError(
            f"--region {region!r} is not a region code; give one such as us-east-1, or 'global' "
            "for the bundle of every region."
        )
    return code


def check_region(region: str, partition: Partition | str = Partition.AWS) -> str:
    """Return the normalized region code, or raise :class:`UsageError` if it does not fit.

    ``region`` is ``global`` or a region code (``us-east-1``); ``us-gov-*`` regions belong to
    ``aws-us-gov`` only, ``cn-*`` regions to ``aws-cn`` only.
    """
    part = partition_of(partition)
    code = check_region_code(region)
    if code == "global":
        return code
    for other, prefix in _PREFIXES.items():
        if code.startswith(prefix) and part is not other:
            raise UsageError(
                f"Region {code} belongs to the {other.value} partition, not {part.value}; "
                f"add --partition {other.value}."
            )
    own = _PREFIXES.get(part)
    if own is not None and not code.startswith(own):
        raise UsageError(
            f"Region {code} is not in the {part.value} partition (only {own}* regions and "
            "'global' are); pick one of those or drop --partition."
        )
    if code.startswith("us-iso"):
        raise UsageError(
            f"Region {code} is in an isolated partition whose bundle is not published on the "
            "internet; download it inside that partition and pass --source FILE."
        )
    return code


def bundle_url(
    region: str = "global",
    partition: Partition | str = Partition.AWS,
    fmt: BundleFormat | str = BundleFormat.PEM,
) -> str:
    """The official download URL of the bundle for ``region`` in ``partition``, as ``fmt``.

    >>> bundle_url()
    'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem'
    >>> bundle_url("us-gov-east-1", "aws-us-gov")
    'https://truststore.pki.us-gov-west-1.rds.amazonaws.com/us-gov-east-1/us-gov-east-1-bundle.pem'
    """
    code = check_region(region, partition)
    return f"{HOSTS[partition_of(partition)]}/{code}/{code}-bundle.{format_of(fmt).value}"


def output_name(region: str = "global", fmt: BundleFormat | str = BundleFormat.PEM) -> str:
    """The file name AWS gives the bundle, used as the default output: ``global-bundle.pem``."""
    return f"{region.strip().lower()}-bundle.{format_of(fmt).value}"
