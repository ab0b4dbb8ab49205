"""docs/benchmarks.md: the whole-page benchmark keeps the sections the others wrote."""

from __future__ import annotations

from pathlib import Path

from bench.report.page import write_page, write_section

PEER = "<!-- peer -->\n## Peer\n\nold peer\n<!-- /peer -->"
LONG = "<!-- long-gop -->\n## Long GOPs\n\n| a | b |\n<!-- /long-gop -->"


def test_rewriting_the_page_keeps_the_other_benchmarks_sections(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    write_page(page, "# Benchmarks\n\nfirst latency\n")
    write_section(page, PEER, "<!-- peer -->", "<!-- /peer -->")
    write_section(page, LONG, "<!-- long-gop -->", "<!-- /long-gop -->")
    write_page(page, "# Benchmarks\n\nsecond latency\n")
    assert page.read_text() == f"# Benchmarks\n\nsecond latency\n\n{PEER}\n\n{LONG}\n"
    new_peer = PEER.replace("old peer", "new peer")
    write_section(page, new_peer, "<!-- peer -->", "<!-- /peer -->")
    assert page.read_text() == f"# Benchmarks\n\nsecond latency\n\n{new_peer}\n\n{LONG}\n"


def test_a_section_the_new_page_holds_is_not_kept_twice(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    write_page(page, f"# Benchmarks\n\n{PEER}\n")
    write_page(page, f"# Benchmarks\n\n{PEER.replace('old', 'newer')}\n")
    assert page.read_text().count("<!-- peer -->") == 1
    assert "newer peer" in page.read_text()
