"""The CloudFront Function (run under node): on viewer requests it accepts exactly the tokens
origin/signing.py makes; on viewer responses it gives a redirect to a clip's current version a
token for the new path with the viewer's own expiry, as the origin does when reached directly."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from origin.signing import sign_path, sign_path_until, verify
from tests.edge.cloudfront_function import FUNCTION, node_binary, write_function_module

PATH = "/videos/clips/7/stream/v3"
NEW = "/videos/clips/7/stream/v4"  # the clip's current version, where PATH redirects
HOST = "d111111abcdef8.cloudfront.net"
OLD_VERSION_CACHE = "public, max-age=60"  # the origin's Cache-Control on that redirect

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
    """A viewer-request event, as CloudFront Functions documents it."""
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": "198.51.100.11"},
        "request": {
            "method": "GET",
            "uri": uri,
            "querystring": {k: {"value": v} for k, v in query.items()},
            "headers": {"host": {"value": HOST}},
            "cookies": {},
        },
    }


def response_event(
    uri: str,
    query: dict[str, str],
    status: int = 302,
    location: str | None = NEW,
    cache_control: str = OLD_VERSION_CACHE,
) -> dict[str, Any]:
    """A viewer-response event: the viewer's request and the cache's answer to it (by default
    the origin's redirect of an old version, which names the new path without a token)."""
    headers = {"cache-control": {"value": cache_control}, "content-length": {"value": "0"}}
    if location is not None:
        headers["location"] = {"value": location}
    described = {200: "OK", 206: "Partial Content", 301: "Moved Permanently", 302: "Found"}
    return {
        **event(uri, query),
        "context": {"eventType": "viewer-response"},
        "response": {
            "statusCode": status,
            "statusDescription": described.get(status, ""),
            "headers": headers,
            "cookies": {},
        },
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
    # Let through as sent, token included: the cache policy keys on no query string and forwards
    # none, and the viewer-response side reads the token from the request.
    assert passed == cases[0]["request"]
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


# -- viewer responses ----------------------------------------------------------------------


def test_a_redirect_to_the_new_version_gets_the_viewers_own_expiry(tmp_path: Path) -> None:
    now = time.time()
    cases = [
        sign_path(PATH, b"key-new", 300, now=now),
        sign_path(PATH, b"key-new", 3600, now=now),  # another viewer: another expiry
        sign_path(PATH, b"key-old", 300, now=now),  # a key being rotated out still verifies
    ]
    events = [response_event(PATH, token(url)) for url in cases]
    events += [response_event(PATH, token(cases[0]), status=s) for s in (301, 303, 307, 308)]
    results = run_function(tmp_path, "key-new,key-old", events)

    for url, result in zip(cases + [cases[0]] * 4, results, strict=True):
        exp = int(token(url)["exp"])
        location = result["headers"]["location"]["value"]
        # Exactly what the origin itself answers when reached with this token: the new path,
        # the same expiry, signed with the first key.
        assert location == sign_path_until(NEW, b"key-new", exp)
        given = token(location)
        assert verify(NEW, given["exp"], given["sig"], [b"key-new"], now=now) is None
        # It now carries this viewer's token: no shared cache may keep it.
        assert result["headers"]["cache-control"] == {"value": "private, max-age=60"}
        assert result["headers"]["content-length"] == {"value": "0"}
    assert [r["statusCode"] for r in results] == [302, 302, 302, 301, 303, 307, 308]


def test_an_absolute_location_on_the_viewers_host_stays_absolute(tmp_path: Path) -> None:
    valid = token(sign_path(PATH, b"key", 300))
    exp = int(valid["exp"])
    signed_new = sign_path_until(NEW, b"key", exp)
    locations = {
        f"https://{HOST}{NEW}": f"https://{HOST}{signed_new}",
        f"http://{HOST.upper()}{NEW}": f"http://{HOST.upper()}{signed_new}",
        f"//{HOST}{NEW}": f"//{HOST}{signed_new}",
        # Other parameters are kept, the token comes after them.
        f"{NEW}?utm=x": f"{NEW}?utm=x&{urlsplit(signed_new).query}",
    }
    results = run_function(
        tmp_path, "key", [response_event(PATH, valid, location=loc) for loc in locations]
    )
    for (sent, expected), result in zip(locations.items(), results, strict=True):
        assert result["headers"]["location"]["value"] == expected, sent
        assert result["headers"]["cache-control"]["value"] == "private, max-age=60", sent


def test_responses_that_are_not_a_redirect_to_the_clips_new_version_are_untouched(
    tmp_path: Path,
) -> None:
    valid = token(sign_path(PATH, b"key", 300))
    cases = [
        # Not a redirect.
        response_event(PATH, valid, status=200, location=None, cache_control="public, immutable"),
        response_event(PATH, valid, status=206, location=None),
        response_event(PATH, valid, status=304, location=None),
        response_event(PATH, valid, status=200, location=NEW),
        # A redirect, but not to a stream path of this clip, or off this host.
        response_event(PATH, valid, location="/videos/clips/7/thumbnail/v4.jpg"),
        response_event(PATH, valid, location="/review/7"),
        response_event(PATH, valid, location="/videos/clips/8/stream/v1"),
        response_event(PATH, valid, location=f"https://elsewhere.example{NEW}"),
        response_event(PATH, valid, location=f"ftp://{HOST}{NEW}"),
        response_event(PATH, valid, location=f"{NEW}#t=1"),
        response_event(PATH, valid, location=None),
        # Already carries a token.
        response_event(PATH, valid, location=sign_path(NEW, b"key", 60)),
        # Not a response to a stream URL.
        response_event("/videos/clips/7/thumbnail/v3.jpg", {}),
        response_event("/api/clips/7", {}, location=NEW),
    ]
    results = run_function(tmp_path, "key", cases)
    for case, result in zip(cases, results, strict=True):
        assert result == case["response"], case


def test_the_expiry_is_never_extended(tmp_path: Path) -> None:
    """The response side checks the request's token again and signs nothing for a request that
    had no valid one: it cannot be used to get a token that outlives the viewer's."""
    now = time.time()
    valid = token(sign_path(PATH, b"key", 300, now=now))
    later = str(int(valid["exp"]) + 86400)
    cases = [
        response_event(PATH, {**valid, "exp": later}),  # a later expiry, the old signature
        response_event(PATH, token(sign_path(PATH, b"key", 60, now=now - 3600))),  # expired
        response_event(PATH, token(sign_path(PATH, b"other-key", 300, now=now))),
        response_event(PATH, token(sign_path("/videos/clips/7/stream/v2", b"key", 300))),
        response_event(PATH, {"exp": valid["exp"]}),
        response_event(PATH, {}),
        response_event(PATH, valid),
    ]
    results = run_function(tmp_path, "key", cases)
    for case, result in zip(cases[:-1], results[:-1], strict=True):
        assert result == case["response"], case["request"]["querystring"]
    given = token(results[-1]["headers"]["location"]["value"])
    assert given["exp"] == valid["exp"]


@pytest.mark.parametrize("keys", ["", ","])
def test_no_keys_sign_nothing(tmp_path: Path, keys: str) -> None:
    case = response_event(PATH, token(sign_path(PATH, b"key", 300)))
    [result] = run_function(tmp_path, keys, [case])
    assert result == case["response"]


def test_the_deployed_function_fits_cloudfront_functions(tmp_path: Path) -> None:
    """Within the 10 KB a CloudFront Function may be, with two long keys filled in; and no
    `for ... of`, which the cloudfront-js-2.0 runtime's documented statements do not include."""
    keys = ",".join(["k" * 64, "o" * 64])
    module = write_function_module(tmp_path, keys)
    deployed = module.read_text().removesuffix("\nexport default handler;\n")
    assert len(deployed.encode()) < 10 * 1024
    assert not re.search(r"\bfor\s*\([^)]*\bof\b", deployed)
