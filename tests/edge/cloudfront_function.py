"""The real CloudFront Function (infra/cloudfront/verify-token.js) as a module node can import.

CloudFront Functions cannot read the environment, so the deployed source has
its keys pasted over ``__ORIGIN_SIGNING_KEYS__``; here the same replacement
is made, and a default export added, so that node runs the very handler
CloudFront would. Used by the unit test of the function and by the edge
function server in front of the caching proxy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FUNCTION = Path(__file__).resolve().parents[2] / "infra" / "cloudfront" / "verify-token.js"
KEYS_PLACEHOLDER = "__ORIGIN_SIGNING_KEYS__"


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: make test installs Debian's nodejs package")
    return node


def write_function_module(folder: Path, keys: str) -> Path:
    """``folder/function.mjs``: the function with ``keys`` (comma-separated) filled in,
    its ``handler`` as the default export."""
    folder.mkdir(parents=True, exist_ok=True)
    source = FUNCTION.read_text().replace(KEYS_PLACEHOLDER, keys)
    module = folder / "function.mjs"
    module.write_text(source + "\nexport default handler;\n")
    return module
