#!/usr/bin/env python3
"""Fill in the deploy-time values of cloudfront.json and verify-token.js.

    infra/cloudfront/render.py function > verify-token.js
        the CloudFront Function with $ORIGIN_SIGNING_KEY's keys baked in
        (CloudFront Functions cannot read an environment)
    infra/cloudfront/render.py distribution --origin-domain D --function-arn ARN > distribution.json
        cloudfront.json with the origin's domain, the function's ARN and
        $ORIGIN_CDN_SECRET as the X-Origin-Verify header

Secrets come from the environment, never from the command line (shell history,
process lists). Standard library only: it runs wherever the aws CLI does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PLACEHOLDER = re.compile(r"__[A-Z_]+__")
ARN = re.compile(r"arn:aws:cloudfront::\d{12}:function/[\w-]+")
DOMAIN = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")


class RenderError(Exception):
    """A value is missing or malformed; the message says which."""


def secret(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RenderError(f"set {name} in the environment (the value fly secrets holds)")
    return value


def render_function() -> str:
    """verify-token.js with the signing keys in place of its placeholder."""
    keys = secret("ORIGIN_SIGNING_KEY")
    if "'" in keys or "\\" in keys:
        raise RenderError("ORIGIN_SIGNING_KEY must not contain quotes or backslashes")
    return (HERE / "verify-token.js").read_text().replace("__ORIGIN_SIGNING_KEYS__", keys)


def render_distribution(origin_domain: str, function_arn: str) -> dict[str, Any]:
    """cloudfront.json for this deployment: domain, function ARN and origin secret set."""
    if not DOMAIN.fullmatch(origin_domain):
        raise RenderError(f"not a domain name: {origin_domain!r}")
    if not ARN.fullmatch(function_arn):
        raise RenderError(f"not a CloudFront Function ARN: {function_arn!r}")
    config: dict[str, Any] = json.loads((ROOT / "cloudfront.json").read_text())
    for origin in config["Origins"]["Items"]:
        origin["DomainName"] = origin_domain
        for header in origin["CustomHeaders"]["Items"]:
            if header["HeaderValue"] == "__ORIGIN_CDN_SECRET__":
                header["HeaderValue"] = secret("ORIGIN_CDN_SECRET")
    for behaviour in config["CacheBehaviors"]["Items"]:
        for function in behaviour.get("FunctionAssociations", {}).get("Items", []):
            function["FunctionARN"] = function_arn
    left = PLACEHOLDER.findall(json.dumps(config))
    if left:
        raise RenderError(f"placeholders left in cloudfront.json: {sorted(set(left))}")
    return config


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="infra/cloudfront/render.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("function", help="verify-token.js with the signing keys")
    distribution = commands.add_parser("distribution", help="cloudfront.json, filled in")
    distribution.add_argument("--origin-domain", required=True, help="e.g. heaters-origin.fly.dev")
    distribution.add_argument(
        "--function-arn", required=True, help="the published verify-token function's ARN"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "function":
            sys.stdout.write(render_function())
        else:
            config = render_distribution(args.origin_domain, args.function_arn)
            sys.stdout.write(json.dumps(config, indent=2) + "\n")
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
