"""The section ``bench.client_styles`` writes: the warm and cold ratios per client style."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from bench.report.figures import ms
from bench.report.page import generated_by
from bench.runner.source import SPANS
from bench.runner.stats import median
from bench.runner.timing import Sample
from bench.saturation.procfs import Sched

BEGIN, END = "<!-- client-styles -->", "<!-- /client-styles -->"

# Client styles, in the tables' order.
FRESH = "raw socket, a fresh connection per request"
SMALL_READS = "the same, 100 KiB reads (curl's read size)"
KEEP_ALIVE = "raw socket, one keep-alive connection"
QUICK_ACK = "the same, `TCP_NODELAY` + `TCP_QUICKACK` (no Nagle, no delayed ACK)"
PYTHON = "`http.client`, one keep-alive connection"
CURL_WALL = "`curl` process per request, wall time"
CURL_OWN = "`curl`'s own `time_total` (same runs)"
STYLES = (FRESH, SMALL_READS, KEEP_ALIVE, QUICK_ACK, PYTHON, CURL_WALL, CURL_OWN)

# Contenders.
WARM = "origin warm"
NGINX = "nginx mp4 module"
STATIC = "nginx static (the origin's cached file)"
COLD = "origin cold (edit list)"


@dataclass
class Results:
    """Everything the section needs."""

    samples: dict[tuple[str, str, str], list[Sample]]  # (span, contender, style) → samples
    # (span, contender, style) → the server's threads' CPU time and slices during each GET
    server: dict[tuple[str, str, str], list[Sched]]
    client: dict[tuple[str, str, str], list[float]]  # the same: the client's CPU seconds
    raw: dict[str, list[Sample]]  # span → raw ffmpeg runs
    curl_start_s: list[float]  # `curl --version`, spawn to exit
    runs: int

    def total(self, span: str, contender: str, style: str) -> float:
        """Median total of one contender in one style."""
        return median([s.total_s for s in self.samples[(span, contender, style)]])

    def ttfb(self, span: str, contender: str, style: str) -> float | None:
        """Median time to the first byte (None where the style has none)."""
        firsts = [s.ttfb_s for s in self.samples[(span, contender, style)] if s.ttfb_s is not None]
        return median(firsts) if firsts else None


def _table(results: Results, span: str) -> list[str]:
    raw = median([s.total_s for s in results.raw[span]])
    out = [
        f"| client ({span} clip) | origin warm | nginx mp4 | **warm ÷ nginx** "
        "| nginx static | warm ÷ static | origin cold | **cold ÷ raw ffmpeg** "
        "| TTFB warm / nginx |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for style in STYLES:
        warm, nginx, static, cold = (
            results.total(span, c, style) for c in (WARM, NGINX, STATIC, COLD)
        )
        ttfbs = [results.ttfb(span, c, style) for c in (WARM, NGINX)]
        out.append(
            f"| {style} | {ms(warm)} | {ms(nginx)} | **{warm / nginx:.2f}x** | {ms(static)} "
            f"| {warm / static:.2f}x | {ms(cold)} | **{cold / raw:.2f}x** "
            f"| {ms(ttfbs[0])} / {ms(ttfbs[1])} |"
        )
    return [*out, "", f"Raw ffmpeg (no client): {ms(raw)} (median).", ""]


def _server_cell(results: Results, span: str, contender: str, style: str) -> str:
    used = results.server.get((span, contender, style))
    if not used:
        return "-"
    cpu = median([u.run_ns / 1e9 for u in used])
    waited = median([u.wait_ns / 1e9 for u in used])
    slices = median([u.slices for u in used])
    return f"{ms(cpu)} / {ms(waited)} / {slices:.0f}"


def _client_cell(results: Results, span: str, contender: str, style: str) -> str:
    used = results.client.get((span, contender, style))
    return ms(median(used)) if used else "-"


def _server_table(results: Results, span: str) -> list[str]:
    out = [
        f"| per warm GET ({span} clip): on a CPU / waiting for one / slices | origin "
        "| nginx mp4 | nginx static | client's CPU, origin GET | client's CPU, nginx GET |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for style in STYLES:
        if style == CURL_OWN:
            continue  # the same runs as the wall-time row
        cells = [_server_cell(results, span, c, style) for c in (WARM, NGINX, STATIC)]
        cells += [_client_cell(results, span, c, style) for c in (WARM, NGINX)]
        out.append(f"| {style} | " + " | ".join(cells) + " |")
    return [*out, ""]


def _cpu(results: Results, table: str, span: str, contender: str, style: str) -> float:
    """Median CPU seconds per GET: the server's threads (``table="server"``) or the client's."""
    if table == "server":
        return median([u.run_ns / 1e9 for u in results.server[(span, contender, style)]])
    return median(results.client[(span, contender, style)])


def _waited(results: Results, span: str, contender: str, style: str) -> float:
    """Median seconds the server's threads were runnable but not running, per GET."""
    return median([u.wait_ns / 1e9 for u in results.server[(span, contender, style)]])


def _slices(results: Results, span: str, contender: str, style: str) -> float:
    return median([u.slices for u in results.server[(span, contender, style)]])


def _ratio(results: Results, span: str, style: str) -> str:
    return f"{results.total(span, WARM, style) / results.total(span, NGINX, style):.2f}x"


def _cold_ratio(results: Results, span: str, style: str) -> str:
    raw = median([s.total_s for s in results.raw[span]])
    return f"{results.total(span, COLD, style) / raw:.2f}x"


def _findings(results: Results) -> list[str]:
    """What the tables show, figure by figure (10 s clip unless said)."""
    span = SPANS[0].label
    total = partial(results.total, span)
    server = partial(_cpu, results, "server", span)
    client = partial(_cpu, results, "client", span)
    ttfb_origin = results.ttfb(span, WARM, FRESH) or 0.0
    ttfb_nginx = results.ttfb(span, NGINX, FRESH) or 0.0
    start_up = median(results.curl_start_s)
    return [
        "### What the tables show (10 s clip unless said)",
        "",
        "- **curl's start-up is not it.** `curl --version` takes "
        f"{ms(start_up)} from spawn to exit, and a `time curl`-style total "
        f"(wall) of the warm origin was {ms(total(WARM, CURL_WALL))} against curl's own "
        f"`time_total` of {ms(total(WARM, CURL_OWN))} for the same runs. Start-up adds about "
        "the same to both servers, so it pulls the ratio towards 1: "
        f"{_ratio(results, span, CURL_WALL)} by wall time, {_ratio(results, span, CURL_OWN)} "
        f"by curl's own timer. The issue's nginx figure (5.3 ms) is of the size of curl's "
        f"own timer here ({ms(total(NGINX, CURL_OWN))}), not of its wall time "
        f"({ms(total(NGINX, CURL_WALL))}).",
        "- **Where the gap is: sending, and the CPU it takes.** Per warm GET the origin's "
        f"threads ran {ms(server(WARM, FRESH))} on a CPU in "
        f"{_slices(results, span, WARM, FRESH):.0f} slices (1 MiB file reads in a worker "
        "thread, asyncio writes each time the socket drains); nginx's worker "
        f"{ms(server(NGINX, FRESH))} in {_slices(results, span, NGINX, FRESH):.0f} "
        "(`sendfile`: no copy through user space). The client's CPU per GET was "
        f"{ms(client(WARM, FRESH))} for the origin's answer, {ms(client(NGINX, FRESH))} for "
        "nginx's. The servers' CPU per GET hardly moves with the client (second table). "
        "nginx serving the origin's cached file as a static file (same bytes, sendfile) took "
        f"{ms(total(STATIC, FRESH))}, the mp4 module {ms(total(NGINX, FRESH))}. First byte "
        f"of the answer: origin {ms(ttfb_origin)}, nginx {ms(ttfb_nginx)} (the origin parses "
        "the request, looks the clip up and stats its file in Python).",
        "- **The client's own CPU.** Per GET of the origin's clip the client used "
        f"{ms(client(WARM, FRESH))} (raw socket, 1 MiB reads), {ms(client(WARM, SMALL_READS))} "
        f"(100 KiB reads), {ms(client(WARM, PYTHON))} (`http.client`, body copied into "
        f"memory), {ms(client(WARM, CURL_WALL))} (a curl process, start-up included). On 2 "
        "CPUs that time competes with the origin's two threads while the body flows, where "
        "nginx's worker needs about a millisecond. Ratios by client: raw socket "
        f"{_ratio(results, span, FRESH)}, 100 KiB reads {_ratio(results, span, SMALL_READS)}, "
        f"`http.client` {_ratio(results, span, PYTHON)}, curl's own timer "
        f"{_ratio(results, span, CURL_OWN)}.",
        "- **Fresh connection or keep-alive.** Warm ÷ nginx "
        f"{_ratio(results, span, FRESH)} fresh, {_ratio(results, span, KEEP_ALIVE)} kept "
        "alive; TTFB on a kept-alive connection: origin "
        f"{ms(results.ttfb(span, WARM, KEEP_ALIVE))}, nginx "
        f"{ms(results.ttfb(span, NGINX, KEEP_ALIVE))} (fresh: {ms(ttfb_origin)}, "
        f"{ms(ttfb_nginx)}); nginx's CPU per GET {ms(server(NGINX, KEEP_ALIVE))} kept alive, "
        f"{ms(server(NGINX, FRESH))} fresh.",
        "- **Nagle and delayed ACK.** With `TCP_NODELAY` and `TCP_QUICKACK` on the kept-alive "
        f"client socket the ratio was {_ratio(results, span, QUICK_ACK)} (without: "
        f"{_ratio(results, span, KEEP_ALIVE)}) and the TTFBs "
        f"{ms(results.ttfb(span, WARM, QUICK_ACK))} / {ms(results.ttfb(span, NGINX, QUICK_ACK))}. "
        "The request is one small write, and both servers set `TCP_NODELAY` (uvicorn "
        "through asyncio's transports, nginx once a connection is kept alive), so Nagle "
        "cannot hold back their last segment; the comparison above is what the client's "
        "side of it measures.",
        "- **Cold.** A cold GET is the cut plus the same send, so whatever slows the send "
        "moves the cold ratio by about the same milliseconds: cold ÷ raw ffmpeg "
        f"{_cold_ratio(results, span, FRESH)} (raw socket, fresh), "
        f"{_cold_ratio(results, span, KEEP_ALIVE)} (kept alive), "
        f"{_cold_ratio(results, span, CURL_WALL)} (curl, wall), "
        f"{_cold_ratio(results, span, CURL_OWN)} (curl's own timer); raw ffmpeg itself is "
        "timed spawn to exit in every row.",
        _moved(results, span),
        "",
    ]


def _moved(results: Results, span: str) -> str:
    """How far each client moved each server's warm total from the raw socket's, fresh."""
    styles = {
        CURL_OWN: "curl's own timer",
        SMALL_READS: "100 KiB reads",
        KEEP_ALIVE: "kept alive",
        PYTHON: "`http.client`",
    }

    def moves(contender: str) -> str:
        base = results.total(span, contender, FRESH)
        return ", ".join(
            f"{(results.total(span, contender, style) - base) * 1000:+.2f} ms ({name})"
            for style, name in styles.items()
        )

    # Did the clients that read in smaller pieces or spend more CPU move the
    # origin more than nginx, this run? Said as measured either way.
    moved = {
        style: (
            results.total(span, WARM, style) - results.total(span, WARM, FRESH),
            results.total(span, NGINX, style) - results.total(span, NGINX, FRESH),
        )
        for style in (SMALL_READS, PYTHON, CURL_OWN)
    }
    more = [
        name
        for style, name in styles.items()
        if style in moved and moved[style][0] > moved[style][1]
    ]
    verdict = (
        f"In this run {', '.join(more)} moved the origin's total more than nginx's"
        if more
        else "In this run no client moved the origin's total more than nginx's"
    )
    waits = ", ".join(
        f"{ms(_waited(results, span, WARM, style))} / {ms(_waited(results, span, NGINX, style))}"
        f" ({name})"
        for style, name in {
            FRESH: "raw socket", SMALL_READS: "100 KiB reads", KEEP_ALIVE: "kept alive",
            PYTHON: "`http.client`", CURL_WALL: "curl",
        }.items()  # the styles asked: curl's own timer shares its runs with the wall row
    )  # fmt: skip
    times = _cpu(results, "server", span, WARM, FRESH) / _cpu(results, "server", span, NGINX, FRESH)
    return (
        "- **So**: against the raw socket on fresh connections, the origin's warm total moved "
        f"by {moves(WARM)}; nginx's by {moves(NGINX)}. {verdict}. The origin's send is bound "
        f"by its own CPU ({times:.1f} times nginx's per GET, above), so its total also moves "
        "with the time its threads wait for a CPU while other work runs; per GET, origin / "
        f"nginx: {waits}. Wall times swing with the load of the machine more than with the "
        "client, and the warm ratio with them; the CPU figures are the steady part."
    )


def render(results: Results, elapsed_s: float) -> str:
    """The section, between its markers."""
    lines = [
        BEGIN,
        "## Client styles: where the warm and cold ratios depend on the client",
        "",
        generated_by(f".venv/bin/python -m bench.client_styles --runs {results.runs}", elapsed_s),
        "",
        "A curl-timed run once gave the warm origin 1.92x nginx's mp4 module (10.2 ms against "
        "5.3 ms) and the cold edit-list cut 1.79x raw ffmpeg, where the tables above give "
        "less. This run starts what the latency benchmark starts and times the same clips "
        "(origin warm, nginx's mp4 module, nginx serving the origin's cached file as a static "
        "file, origin cold with the edit list) with each client below, "
        f"{results.runs} runs each in a rotating order after one unrecorded pass; medians. "
        "While each warm GET runs, the server's threads' CPU time and slices on a CPU "
        "(`/proc/<pid>/task/*/schedstat`) and the client's own CPU time (this thread, plus "
        "curl's rusage) are read too: unlike wall times, they hardly depend on what else "
        "runs on the machine.",
        "",
        "- *raw socket*: the latency tables' client (`bench.runner.timing.fetch`), 1 MiB "
        "`recv_into`, `Connection: close`; *100 KiB reads*: the same reading as curl 7.88 "
        "does (strace: 102 400-byte reads); *keep-alive*: the same client on one connection "
        "per server (`KeepAlive`), reopened before the clock when the server closed it idle; "
        "*`http.client`*: the standard library, one connection, `read()` of the whole body; "
        "*curl*: `curl -s -o /dev/null -w …` per request, its wall time (spawn to exit, as "
        "`time curl`) and its own `time_total` (TTFB column: its `time_starttransfer`, the "
        "first byte of the headers).",
        "",
    ]
    for span in SPANS:
        lines += _table(results, span.label)
        lines += _server_table(results, span.label)
    lines += [*_findings(results), END]
    return "\n".join(lines)
