"""cloudfront.json is a valid DistributionConfig (botocore's own validator, offline)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

CONFIG = Path(__file__).resolve().parents[2] / "cloudfront.json"
FLY_CONFIG = CONFIG.parent / "fly.toml"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CORS_S3_ORIGIN = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
#: The AWS region next to each Fly region the origin may run in.
SHIELD_REGION_FOR_FLY = {"iad": "us-east-1", "ord": "us-east-2", "sjc": "us-west-1",
                         "sea": "us-west-2", "fra": "eu-central-1", "lhr": "eu-west-2",
                         "cdg": "eu-west-3", "nrt": "ap-northeast-1", "sin": "ap-southeast-1",
                         "syd": "ap-southeast-2", "gru": "sa-east-1"}  # fmt: skip


def load() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(CONFIG.read_text())
    return config


def test_botocore_accepts_the_distribution_config() -> None:
    shape = (
        botocore.session.get_session()
        .get_service_model("cloudfront")
        .operation_model("CreateDistribution")
        .input_shape
    )
    report = ParamValidator().validate({"DistributionConfig": load()}, shape)
    assert not report.has_errors(), report.generate_report()


def test_media_behaviours_cache_by_path_and_check_tokens_at_the_edge() -> None:
    config = load()
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]["Items"]}
    stream = behaviours["/videos/clips/*/stream/*"]
    thumbnail = behaviours["/videos/clips/*/thumbnail/*"]
    for behaviour in (stream, thumbnail):
        assert behaviour["CachePolicyId"] == CACHING_OPTIMIZED
        assert behaviour["OriginRequestPolicyId"] == CORS_S3_ORIGIN
        assert behaviour["Compress"] is False  # MP4 and JPEG do not compress; ranges must match
    # One function for both viewer events: it checks the token of each request, and gives the
    # redirect of an old version (cached once for every viewer) each viewer's own token.
    functions = stream["FunctionAssociations"]
    assert functions["Quantity"] == len(functions["Items"]) == 2
    events = {f["EventType"]: f["FunctionARN"] for f in functions["Items"]}
    assert events.keys() == {"viewer-request", "viewer-response"}
    assert len(set(events.values())) == 1
    assert "FunctionAssociations" not in thumbnail  # thumbnails are public


def test_errors_are_cached_briefly_or_never_and_the_origin_gets_the_cdn_secret() -> None:
    config = load()
    errors = {
        e["ErrorCode"]: e["ErrorCachingMinTTL"] for e in config["CustomErrorResponses"]["Items"]
    }
    # CloudFront would keep each for 10 s even with no-store; 5xx and 403 (a rotated
    # secret) must heal at once. 404s stay 10 s (the origin's own max-age); 429 is
    # never cached by CloudFront and cannot be configured.
    assert errors == {403: 0, 404: 10, 500: 0, 501: 0, 502: 0, 503: 0, 504: 0}
    [origin] = config["Origins"]["Items"]
    headers = {h["HeaderName"]: h["HeaderValue"] for h in origin["CustomHeaders"]["Items"]}
    assert headers == {"X-Origin-Verify": "__ORIGIN_CDN_SECRET__"}


def test_origin_shield_sits_next_to_the_fly_primary_region() -> None:
    [origin] = load()["Origins"]["Items"]
    primary = tomllib.loads(FLY_CONFIG.read_text())["primary_region"]
    assert origin["OriginShield"] == {
        "Enabled": True,
        "OriginShieldRegion": SHIELD_REGION_FOR_FLY[primary],
    }


def test_review_assets_are_cached_and_everything_else_passes_through() -> None:
    config = load()
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]["Items"]}
    assets = behaviours["/assets/*"]
    assert assets["CachePolicyId"] == CACHING_OPTIMIZED  # hashed names, immutable
    assert assets["Compress"] is True  # JavaScript and CSS
    default = config["DefaultCacheBehavior"]
    # The API, review pages, health and metrics: never cached, every method and
    # header (the admin token) passed to the origin.
    assert default["CachePolicyId"] == CACHING_DISABLED
    assert default["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert "POST" in default["AllowedMethods"]["Items"]
