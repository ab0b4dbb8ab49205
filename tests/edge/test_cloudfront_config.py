"""cloudfront.json is a valid DistributionConfig (botocore's own validator, offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

CONFIG = Path(__file__).resolve().parents[2] / "cloudfront.json"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CORS_S3_ORIGIN = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"


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
    [function] = stream["FunctionAssociations"]["Items"]
    assert function["EventType"] == "viewer-request"
    assert "FunctionAssociations" not in thumbnail  # thumbnails are public


def test_5xx_are_never_cached_and_the_origin_gets_the_cdn_secret() -> None:
    config = load()
    errors = {
        e["ErrorCode"]: e["ErrorCachingMinTTL"] for e in config["CustomErrorResponses"]["Items"]
    }
    assert errors == {500: 0, 501: 0, 502: 0, 503: 0, 504: 0}
    [origin] = config["Origins"]["Items"]
    headers = {h["HeaderName"]: h["HeaderValue"] for h in origin["CustomHeaders"]["Items"]}
    assert headers == {"X-Origin-Verify": "__ORIGIN_CDN_SECRET__"}
