"""infra/cloudfront/render.py: what `aws cloudfront create-distribution` is given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

RENDER = Path(__file__).resolve().parents[2] / "infra" / "cloudfront" / "render.py"
ARN = "arn:aws:cloudfront::123456789012:function/heaters-verify-token"


def render(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORIGIN_")}
    return subprocess.run(
        [sys.executable, str(RENDER), *args], env={**clean, **env},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_the_distribution_is_complete_and_valid() -> None:
    done = render(
        "distribution", "--origin-domain", "media-origin.fly.dev", "--function-arn", ARN,
        ORIGIN_CDN_SECRET="edge-secret",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    assert "__" not in done.stdout
    [origin] = config["Origins"]["Items"]
    assert origin["DomainName"] == "media-origin.fly.dev"
    assert origin["CustomHeaders"]["Items"] == [
        {"HeaderName": "X-Origin-Verify", "HeaderValue": "edge-secret"}
    ]
    arns = [
        function["FunctionARN"]
        for behaviour in config["CacheBehaviors"]["Items"]
        for function in behaviour.get("FunctionAssociations", {}).get("Items", [])
    ]
    assert arns == [ARN, ARN]  # the stream behaviour's viewer-request and viewer-response
    shape = (
        botocore.session.get_session()
        .get_service_model("cloudfront")
        .operation_model("CreateDistribution")
        .input_shape
    )
    report = ParamValidator().validate({"DistributionConfig": config}, shape)
    assert not report.has_errors(), report.generate_report()


def test_the_function_gets_the_signing_keys() -> None:
    done = render("function", ORIGIN_SIGNING_KEY="new-key,old-key")
    assert done.returncode == 0, done.stderr
    assert "const KEYS = 'new-key,old-key'.split(',')" in done.stdout
    assert "__ORIGIN_SIGNING_KEYS__" not in done.stdout


def test_missing_or_malformed_values_are_clear_errors() -> None:
    no_secret = render("distribution", "--origin-domain", "a.fly.dev", "--function-arn", ARN)
    assert no_secret.returncode == 2
    assert "set ORIGIN_CDN_SECRET" in no_secret.stderr
    assert no_secret.stdout == ""
    bad_arn = render(
        "distribution", "--origin-domain", "a.fly.dev", "--function-arn", "heaters",
        ORIGIN_CDN_SECRET="s",
    )  # fmt: skip
    assert bad_arn.returncode == 2
    assert "not a CloudFront Function ARN" in bad_arn.stderr
    no_keys = render("function")
    assert no_keys.returncode == 2
    assert "set ORIGIN_SIGNING_KEY" in no_keys.stderr
    quoted = render("function", ORIGIN_SIGNING_KEY="it's")
    assert quoted.returncode == 2
