"""The latency page's "where the time goes" tables, and its smart-cut section.

Steps timed one by one in the benchmark's own process, plus the HTTP share
taken from the warm row, set against a measured cold total.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.contenders import full_reencode, origin_editlist, origin_smart_cut, origin_warm
from bench.report.figures import Results, ms, total
from bench.report.page import dotted
from bench.runner.source import SPANS
from bench.runner.stats import median
from pool.cutting.smart_cut import ENCODER, prepare

HANDLING = "HTTP + DB lookups + stat, no ffmpeg (the warm row's TTFB)"
SENDING = "sending the file (warm total - warm TTFB)"
SUM = "**sum of the above**"
MEASURED = "**measured cold total** (file mode, edit list)"
SMART_MEASURED = "**measured cold total** (smart cut)"
REST = "unaccounted (event loop, threads, start-up polling, page cache)"

COLD = origin_editlist.CONTENDER.label
SMART = origin_smart_cut.CONTENDER.label


def _breakdown_rows(
    results: Results,
    steps: dict[tuple[str, str], list[float]],
    names: Sequence[str],
    measured: tuple[str, str],
) -> list[str]:
    """A table of step medians per span, the HTTP share from the warm row, and their sum
    against ``measured`` (row label, contender): what the steps do not account for."""
    label, contender = measured
    warm = origin_warm.CONTENDER.label
    out = [
        "| step (medians) | " + " | ".join(s.label for s in SPANS) + " |",
        "|---|" + "--:|" * len(SPANS),
    ]
    columns: list[dict[str, float]] = []
    for span in SPANS:
        col = {name: median(steps[(span.label, name)]) for name in names}
        col[HANDLING] = total(results, span, warm, ttfb=True)
        col[SENDING] = total(results, span, warm) - col[HANDLING]
        col[SUM] = sum(col.values())
        col[label] = total(results, span, contender)
        col[REST] = col[label] - col[SUM]
        columns.append(col)
    for name in (*names, HANDLING, SENDING, SUM, label, REST):
        out.append(f"| {name} | " + " | ".join(ms(c[name]) for c in columns) + " |")
    return out


def sections(results: Results) -> list[str]:
    """ "Where the cold time goes", then "Smart cut: cold cost" and where its time goes.

    One function, as one stretch of the page: the smart cut is set against
    the edit-list cut's rows and a full re-encode, then broken down the same way.
    """
    out = [
        "## Where the cold time goes (file mode, edit list)",
        "",
        "The steps of an edit-list cut (`ORIGIN_PRECISION=editlist`) after the cache miss, timed "
        "one by one in the benchmark's own process with the origin's functions (same filesystem "
        "as its cache), next to what the HTTP rows imply.",
        "",
        *_breakdown_rows(results, results.steps, origin_editlist.STEPS, (MEASURED, COLD)),
        "",
        "## Smart cut: cold cost",
        "",
        "A smart cut (`ORIGIN_PRECISION=smart`, the default) re-encodes the frames before the "
        f"clip's first keyframe (and a few at its end) with `{' '.join(ENCODER)}` and "
        "stream-copies the rest; the edit-list cut copies everything and hides the pre-roll. "
        "Total medians of the rows above; warm requests are the same either way (a cached file).",
        "",
        "| clip | edit list, cold (origin) | smart cut, cold (origin) "
        "| full re-encode (raw ffmpeg) | smart ÷ edit list | smart ÷ full re-encode "
        "| re-encoded by the smart cut |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for span in SPANS:
        editlist, smart, full = (
            total(results, span, n) for n in (COLD, SMART, full_reencode.CONTENDER.label)
        )
        out.append(
            f"| {span.label} | {ms(editlist)} | {ms(smart)} | {ms(full)} "
            f"| {smart / editlist:.2f}x | {smart / full:.3f}x "
            f"| {results.reencoded_s[span.label]:.2f} s of {span.label} |"
        )
    out += [
        "",
        "### Where the smart cut's time goes",
        "",
        "The steps of `Cutter._smart_cut` and the commit, timed one by one in the benchmark's "
        f"own process (`{dotted(prepare)}`, the ffmpeg run of `encode_argv`, `assemble`, "
        "`replace_into_place`; work files on the caches' filesystem). HTTP and sending are the "
        "edit-list warm row's, as in the section above.",
        "",
    ]
    out += _breakdown_rows(
        results, results.smart_steps, origin_smart_cut.STEPS, (SMART_MEASURED, SMART)
    )
    out.append("")
    return out
