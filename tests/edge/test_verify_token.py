"""The CloudFront Function accepts exactly the tokens origin/signing.py makes (run under node)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from origin.signing import sign_path
from tests.edge.cloudfront_function import FUNCTION, node_binary, write_function_module

PATH = "/videos/clips/7/stream/v3"

RUNNER = """
import handler from './function.mjs';
const events = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));
const results = [];
for (const event of events) { results.push(await handler(event)); }
console.log(JSON.stringify(results));
"""


def run_function(tmp_path: Path, keys: str, events: list[dict[str, Any]]) -> list[Any]:
    write_function_module(tmp_path, keys)
    (tmp_path / "run.mjs").write_text(RUNNER)
    out = subprocess.run(
        [node_binary(), str(tmp_path / "run.mjs")], input=json.dumps(events),
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    results: list[Any] = json.loads(out.stdout)
    return results


def event(uri: str, query: dict[str, str]) -> dict[str, Any]:
    return {
        "request": {
            "method": "GET",
            "uri": uri,
            "querystring": {k: {"value": v} for k, v in query.items()},
            "headers": {},
        }
    }


def token(url: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))


def test_tokens_from_python_are_checked_like_the_origin_does(tmp_path: Path) -> None:
    now = time.time()
    valid = token(sign_path(PATH, b"key-new", 300, now=now))
    rotated = token(sign_path(PATH, b"key-old", 300, now=now))
    expired = token(sign_path(PATH, b"key-new", 300, now=now - 3600))
    foreign = token(sign_path(PATH, b"someone-else", 300, now=now))
    tampered = dict(valid, sig=valid["sig"][:-2] + ("AA" if valid["sig"][-2:] != "AA" else "BB"))
    other_clip = token(sign_path("/videos/clips/8/stream/v3", b"key-new", 300, now=now))
    cases = [
        event(PATH, {**valid, "utm": "x"}),
        event(PATH, rotated),
        event(PATH, expired),
        event(PATH, foreign),
        event(PATH, tampered),
        event(PATH, other_clip),
        event(PATH, {}),
        event(PATH, {"exp": "soon", "sig": valid["sig"]}),
        event("/videos/clips/7/thumbnail/v3.jpg", {}),
    ]
    results = run_function(tmp_path, "key-new,key-old", cases)

    passed = results[0]
    assert passed["uri"] == PATH
    assert passed["querystring"] == {"utm": {"value": "x"}}  # token gone, the rest kept
    assert results[1]["uri"] == PATH
    reasons = [json.loads(r["body"]["data"])["error"] for r in results[2:8]]
    assert reasons == [
        "expired token", "invalid token", "invalid token", "invalid token",
        "missing token", "malformed token",
    ]  # fmt: skip
    for refused in results[2:8]:
        assert refused["statusCode"] == 403
        assert refused["headers"]["cache-control"]["value"] == "no-store"
    assert results[8]["uri"] == "/videos/clips/7/thumbnail/v3.jpg"  # public


def test_the_placeholder_must_be_replaced(tmp_path: Path) -> None:
    assert "__ORIGIN_SIGNING_KEYS__" in FUNCTION.read_text()
    now = time.time()
    [result] = run_function(tmp_path, "", [event(PATH, token(sign_path(PATH, b"k", 60, now=now)))])
    assert result["statusCode"] == 403  # no keys: nothing verifies
