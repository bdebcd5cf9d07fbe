"""Reaching the RDS API: boto3 imported on first use, errors turned into one sentence.

boto3 is an optional extra (``pip install 'rdstrust[aws]'``): it is imported inside
:func:`rds_client` and :func:`boto3_session` only, so ``rdstrust --help`` and every other
command never load it. Credentials come from boto3's usual chain (environment, ``--profile`` /
``AWS_PROFILE``, SSO, instance roles); rdstrust never takes a key on its command line.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from rdstrust.errors import AwsError, ToolMissingError, UsageError

#: Environment variable naming an emulator or VPC endpoint (same as ``--endpoint-url``).
ENDPOINT_ENV = "RDSTRUST_AWS_ENDPOINT_URL"
#: Longest text taken from an API answer into a report (identifiers are at most 255).
MAX_TEXT = 256
#: Seconds to wait for a connection / an answer; retries for throttling and 5xx answers.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
MAX_ATTEMPTS = 3

_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


@dataclass(frozen=True)
class AwsOptions:
    """How to reach AWS: a named profile and an endpoint URL (an emulator), both optional."""

    profile: str | None = None
    endpoint_url: str | None = None


def clean(value: object, limit: int = MAX_TEXT) -> str:
    """API text made safe for a terminal: control and format characters escaped, length capped.

    Names, engines and endpoints come from a server; a name carrying an escape sequence or a
    bidi override must not repaint the user's terminal or hide a row.
    """
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return "".join(
        ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else f"\\u{ord(ch):04x}"
        for ch in text
    )


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ToolMissingError(
            "This command needs boto3, which is not installed; install 'rdstrust[aws]' "
            "(pip install 'rdstrust[aws]')."
        ) from None


def boto3_session(options: AwsOptions) -> Any:
    """A boto3 session for ``options.profile`` (the default chain when ``None``)."""
    boto3 = _import("boto3")
    exceptions = _import("botocore.exceptions")
    try:
        return boto3.session.Session(profile_name=options.profile)
    except exceptions.ProfileNotFound:
        raise AwsError(
            f"The AWS profile {clean(options.profile)!r} is not configured; check --profile / "
            "AWS_PROFILE against ~/.aws/config."
        ) from None


def endpoint_url(given: str | None) -> str | None:
    """``--endpoint-url``, else ``RDSTRUST_AWS_ENDPOINT_URL``; must be an http(s) URL."""
    url = given or os.environ.get(ENDPOINT_ENV) or None
    if url is not None and not re.match(r"^https?://[^\s/]+", url):
        raise UsageError(f"--endpoint-url {clean(url)!r} is not an http:// or https:// URL.")
    return url


def rds_client(
    session: Any, options: AwsOptions, region: str, *, attempts: int = MAX_ATTEMPTS
) -> Any:
    """An RDS client for ``region`` with bounded timeouts and retries."""
    config = _import("botocore.config")
    cfg = config.Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": attempts},
        user_agent_extra="rdstrust",
    )
    return session.client("rds", region_name=region, endpoint_url=options.endpoint_url, config=cfg)


def check_region(region: str) -> str:
    """``region`` if it looks like an AWS region code; raises :class:`UsageError` otherwise."""
    text = region.strip().lower()
    if not _REGION.match(text):
        raise UsageError(f"{clean(region)!r} is not an AWS region code such as us-east-1.")
    return text


def resolve_regions(session: Any, given: Sequence[str], *, all_regions: bool) -> tuple[str, ...]:
    """The regions to look at: ``--region`` values, ``--all-regions``, or the configured one.

    ``--all-regions`` is the list of RDS regions botocore ships for the partition of the
    configured region (``aws`` when none is set): no network call, and no opt-in region that
    the account may not have enabled is guessed beyond what botocore knows.
    """
    if given and all_regions:
        raise UsageError("Give --region or --all-regions, not both.")
    if given:
        return tuple(dict.fromkeys(check_region(r) for r in given))
    configured = session.region_name
    if all_regions:
        partition = "aws"
        if configured:
            partition = session.get_partition_for_region(configured)
        return tuple(session.get_available_regions("rds", partition_name=partition))
    if not configured:
        raise UsageError(
            "No AWS region given and none configured; pass --region REGION or set AWS_REGION."
        )
    return (check_region(configured),)


@contextlib.contextmanager
def aws_call(what: str, region: str) -> Iterator[None]:
    """Turn botocore's exceptions raised inside into one-sentence :class:`AwsError`."""
    exceptions = _import("botocore.exceptions")
    parsers = _import("botocore.parsers")
    where = f"{what} in {region}"
    try:
        yield
    except exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = clean(error.get("Code", "Unknown"), 80)
        message = clean(error.get("Message", ""), 300).rstrip(".")
        raise AwsError(f"AWS refused {where}: {code}: {message}.") from None
    except exceptions.NoCredentialsError:
        raise AwsError(
            f"No AWS credentials found for {where}; configure them as for the AWS CLI "
            "(AWS_PROFILE / --profile, environment variables, SSO or an instance role)."
        ) from None
    except (exceptions.EndpointConnectionError, exceptions.ConnectTimeoutError) as exc:
        raise AwsError(
            f"Cannot reach the RDS API for {where} ({clean(exc, 200)}); check the network, "
            "the region and --endpoint-url."
        ) from None
    except parsers.ResponseParserError:
        # Not a BotoCoreError: an answer that is not the API's XML (an HTML error page from a
        # proxy, an emulator's 500). Its text is the page itself: not worth showing.
        raise AwsError(
            f"The RDS API answered {where} with something that is not an API response; check "
            "--endpoint-url and any proxy in between."
        ) from None
    except exceptions.BotoCoreError as exc:
        raise AwsError(f"The AWS call for {where} failed: {clean(exc, 300)}.") from None
