"""Every corpus clip's thumbnail: its first frame, upright, whatever the source's rotation."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from tests.corpus.matrix import CASES, Corpus, CorpusClip
from tests.corpus.pictures import nearest, neighbours, shown_size, source_pictures
from tests.corpus.recipes import RECIPES

CLIPS = [(recipe.name, case) for recipe in RECIPES for case in range(len(CASES))]
IDS = [f"{name}-{CASES[case].replace(' ', '-')}" for name, case in CLIPS]


@pytest.mark.parametrize(("name", "case"), CLIPS, ids=IDS)
def test_thumbnail_is_the_first_frame_upright(
    corpus: Corpus, ffmpeg: str, name: str, case: int
) -> None:
    clip = CorpusClip(corpus.sources[name], case)
    with corpus.server.client() as http:
        answer = http.get(f"/videos/clips/{clip.clip['id']}/thumbnail/v1.jpg")
    assert answer.status_code == 200, answer.text
    # PPM: the picture as decoded, with its size in a text header.
    ppm = subprocess.run(
        [ffmpeg, "-v", "error", "-f", "jpeg_pipe", "-i", "-", "-f", "image2pipe",
         "-c:v", "ppm", "-"],
        input=answer.content, capture_output=True, check=True,
    ).stdout  # fmt: skip
    header = re.match(rb"P6\s(\d+)\s(\d+)\s255\s", ppm)
    assert header is not None
    width, height, pixels = header[1], header[2], ppm[header.end() :]
    coded = clip.source.frames[0].size
    upright = coded[::-1] if clip.source.recipe.rotation in (90, 270) else coded
    assert (int(width), int(height)) == upright, str(clip)

    size = shown_size(clip.source)
    first = clip.source.frames.index(clip.frames[0])
    candidates = source_pictures(ffmpeg, clip.source, neighbours(clip.source, first), size)
    picture = np.frombuffer(pixels, np.uint8).reshape(int(height), int(width), 3)
    if picture.shape[:2] != (size[1], size[0]):  # compared at most MAX_WIDTH wide
        step = int(width) // size[0]
        picture = picture[::step, ::step]
    got, distances = nearest(picture, candidates)
    assert got == first, (str(clip), got - first, distances)
