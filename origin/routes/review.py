"""The review pages: source cards at ``/``, and one source's clip editor.

Server-rendered HTML around one ES module and one stylesheet (``/assets/``,
origin/routes/assets.py); no build step. The editor's script reads and edits
through the JSON API, so the page shows exactly what API clients see.
"""

from __future__ import annotations

import functools
import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from db import clips as clip_store
from db import sources as source_store
from db.records import ClipRecord, SourceRecord
from origin.db_access import connection
from origin.errors import SHORT_MAX_AGE
from origin.routes.assets import asset_urls
from origin.routes.sources import requested_source
from origin.shapes import source_file_name
from origin.state import app_state
from origin.urls import clip_thumbnail_path

_NO_STORE = {"Cache-Control": "no-store"}


@functools.cache
def _template(name: str) -> str:
    """A page template, read by the first request for it (not at start-up)."""
    from importlib import resources

    return (resources.files("origin") / "templates" / name).read_text(encoding="utf-8")


def _fill(template: str, **values: str) -> str:
    """Replace ``{{name}}`` placeholders; values are HTML already (escape before)."""
    urls = asset_urls()
    page = _template(template).replace("{{css}}", urls["review.css"])
    page = page.replace("{{js}}", urls["review.js"])
    for name, value in values.items():
        page = page.replace("{{" + name + "}}", value)
    return page


def _duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def _precision(source: SourceRecord) -> str:
    if source.precision == "editlist":
        why = f": {source.precision_reason}" if source.precision_reason else ""
        return f"edit list{why}"
    if source.precision == "smart":
        return "smart cut" + (f" ({source.precision_reason})" if source.precision_reason else "")
    return "not recorded"


def _card(source: SourceRecord, first: ClipRecord | None) -> str:
    e = html.escape
    thumbnail = clip_thumbnail_path(first) if first is not None else None
    name = source_file_name(source.uri)
    picture = (
        f'<img src="{e(thumbnail)}" alt="" loading="lazy" '
        f'width="{source.display_width}" height="{source.display_height}">'
        if thumbnail
        else '<div class="no-picture" aria-hidden="true"></div>'
    )
    audio = f" + {e(source.audio_codec)}" if source.audio_codec else ""
    facts = [
        ("duration", _duration(float(source.duration))),
        ("size", f"{source.size_bytes / 1e6:.1f} MB"),
        ("clips", str(source.clip_count)),
        (
            "codec",
            f"{e(source.video_codec)}{audio}, {source.display_width}&times;{source.display_height}",
        ),
        ("cut", e(_precision(source))),
    ]
    rows = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
    return (
        f'<li class="card"><a href="/review/sources/{source.id}">{picture}'
        f'<h2 title="{e(source.uri)}">{e(name)}</h2></a><dl>{rows}</dl></li>'
    )


async def index(request: Request) -> Response:
    """GET / — every source as a card."""
    state = app_state(request)
    async with connection(state) as conn:
        sources = await source_store.list_sources(conn)
        firsts = await clip_store.first_clips(conn)
    cards = "".join(_card(s, firsts.get(s.id)) for s in sources)
    if not cards:
        cards = '<li class="empty">No sources yet: <code>origin sources add FILE</code></li>'
    return HTMLResponse(_fill("index.html", cards=cards), headers=_NO_STORE)


async def source_page(request: Request) -> Response:
    """GET /review/sources/{id} — one source's clips: player, timeline, editing."""
    source = await requested_source(request, app_state(request), cache_control=SHORT_MAX_AGE)
    page = _fill(
        "source.html", source_id=str(source.id), title=html.escape(source_file_name(source.uri))
    )
    return HTMLResponse(page, headers=_NO_STORE)
