"""Which pictures a decoder needs: H.264 reference lists and marking (8.2.4, 8.2.5), simulated.

A re-encoded segment's decoder reads the source from an IDR picture to the
segment's last frame. It needs the segment's frames and every picture they
refer to, directly or not; a reference picture shown before the segment that
none of them refers to (most of x264's B-pyramid references) is decoded for
nothing. Which pictures a slice *may* refer to are the entries of its active
reference lists; which one each block uses is in the slice data, not read
here, so every entry counts.

A reference picture left out would leave a frame_num gap, and the lists and
marking operations of the pictures after it name pictures by frame_num
differences. So the pictures kept are renumbered as if the others had never
been coded: frame_num counts only kept references, and each list
modification and marking operation is written again to name the same
picture (an operation that names a picture left out goes, and a marking
left with none falls back to the sliding window). The decoder is then
simulated on the renumbered pictures; while a kept picture's reference
lists or picture order count differ from the full decode's, or it names a
picture the decoder no longer holds, the last picture left out before it is
taken back. What this does not simulate (long-term references, memory
management operations other than 1, frame_num gaps, picture order count
type 1, a stream that does not start with an IDR) raises
:class:`UnsupportedReferences`: the caller then keeps every reference picture.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

from pool.mp4.h264_params import Sps
from pool.mp4.rbsp import BitstreamError
from pool.mp4.slices import B_SLICE, I_SLICES, NAL_IDR, Mmco, SliceHeader

#: Pictures taken back before giving up (each costs a simulation up to where it differs).
MAX_ROUNDS = 32

Key = int  # the caller's name for a picture (a sample index)


class UnsupportedReferences(BitstreamError):
    """The stream uses what this module does not simulate; every picture must be decoded."""


@dataclass(frozen=True)
class Picture:
    """A coded frame: the caller's name for it, its SPS and its slices' headers."""

    key: Key
    sps: Sps
    slices: tuple[SliceHeader, ...]


@dataclass(frozen=True)
class DecodePlan:
    """The pictures a decoder reads (keys, decode order), and the renumbered ones' headers."""

    keys: list[Key]
    #: Kept pictures whose slice headers change: the headers to write, slice by slice.
    headers: dict[Key, tuple[SliceHeader, ...]]


@dataclass(frozen=True)
class _Decoded:
    poc: int
    lists: tuple[tuple[Key | None, ...], ...]  # every slice's active lists (None: no picture)
    #: Every slice's list modifications, per list: the picture each one names.
    named: tuple[tuple[tuple[Key, ...], ...], ...]
    unmarked: tuple[Key, ...]  # what its memory management operations unmark
    problem: str | None  # what a decoder would find wrong with its references


@dataclass(frozen=True)
class _Ref:
    key: Key
    frame_num: int
    poc: int


def _pic_num(ref_frame_num: int, frame_num: int, max_frame_num: int) -> int:
    """A short-term reference frame's PicNum (its FrameNumWrap) seen from picture ``frame_num``."""
    return ref_frame_num - max_frame_num if ref_frame_num > frame_num else ref_frame_num


@dataclass
class _Decoder:
    """The reference state of an H.264 decoder, for progressive frames and short-term refs."""

    refs: list[_Ref] = field(default_factory=list)  # short-term references, oldest first
    prev_ref_frame_num: int = 0
    prev_poc_msb: int = 0
    prev_poc_lsb: int = 0
    prev_frame_num: int = 0
    frame_num_offset: int = 0
    started: bool = False

    def decode(self, picture: Picture) -> _Decoded:
        """Take in one picture (decode order): its lists and POC, then its marking."""
        first, sps = picture.slices[0], picture.sps
        max_frame_num = 1 << sps.log2_max_frame_num
        idr = first.nal_type == NAL_IDR
        problems: list[str] = []
        if idr:
            if first.long_term_reference:
                raise UnsupportedReferences("an IDR picture marked long-term")
            self.refs.clear()
            self.prev_ref_frame_num = self.prev_poc_msb = self.prev_poc_lsb = 0
            self.frame_num_offset = 0
            self.started = True
        elif not self.started:
            raise UnsupportedReferences("the pictures do not start with an IDR")
        elif first.frame_num not in (
            self.prev_ref_frame_num,
            (self.prev_ref_frame_num + 1) % max_frame_num,
        ):
            problems.append(f"a frame_num gap before {first.frame_num}")
        poc = self._poc(first, sps, max_frame_num, idr)
        lists: list[tuple[Key | None, ...]] = []
        named: list[tuple[tuple[Key, ...], ...]] = []
        for header in picture.slices:
            entries, names = self._lists(header, poc, max_frame_num, problems)
            lists += entries
            named.append(names)
        unmarked: tuple[Key, ...] = ()
        if first.is_reference:
            unmarked = self._mark(picture, first, max_frame_num, idr, poc, problems)
        return _Decoded(poc, tuple(lists), tuple(named), unmarked, next(iter(problems), None))

    # -- 8.2.1: picture order count --------------------------------------------

    def _poc(self, header: SliceHeader, sps: Sps, max_frame_num: int, idr: bool) -> int:
        if sps.poc_type == 0:
            assert header.poc_lsb is not None
            lsb, max_lsb = header.poc_lsb, 1 << sps.log2_max_poc_lsb
            msb = self.prev_poc_msb
            if lsb < self.prev_poc_lsb and self.prev_poc_lsb - lsb >= max_lsb // 2:
                msb += max_lsb
            elif lsb > self.prev_poc_lsb and lsb - self.prev_poc_lsb > max_lsb // 2:
                msb -= max_lsb
            if header.is_reference:
                self.prev_poc_msb, self.prev_poc_lsb = msb, lsb
            top = msb + lsb
            return min(top, top + header.poc_bottom_delta)
        if sps.poc_type != 2:
            raise UnsupportedReferences(f"pic_order_cnt_type {sps.poc_type}")
        if not idr and self.prev_frame_num > header.frame_num:
            self.frame_num_offset += max_frame_num
        self.prev_frame_num = header.frame_num
        if idr:
            return 0
        return 2 * (self.frame_num_offset + header.frame_num) - (0 if header.is_reference else 1)

    # -- 8.2.4: reference picture lists ----------------------------------------

    def _lists(
        self, header: SliceHeader, poc: int, max_frame_num: int, problems: list[str]
    ) -> tuple[list[tuple[Key | None, ...]], tuple[tuple[Key, ...], ...]]:
        """The slice's active lists, and the pictures its list modifications name."""
        if header.slice_type in I_SLICES:
            return [], ()

        def pic_num(ref: _Ref) -> int:
            return _pic_num(ref.frame_num, header.frame_num, max_frame_num)

        if header.slice_type == B_SLICE:
            shown = sorted(self.refs, key=lambda r: r.poc)
            before = [r for r in reversed(shown) if r.poc < poc]
            after = [r for r in shown if r.poc > poc]
            initial = [before + after, after + before]
            if len(initial[1]) > 1 and initial[1] == initial[0]:
                initial[1][0], initial[1][1] = initial[1][1], initial[1][0]
        else:
            initial = [sorted(self.refs, key=pic_num, reverse=True)]
        lists, named = [], []
        for n, refs in enumerate(initial):
            active = header.ref_idx_active[n]
            entries: list[_Ref | None] = [*refs[:active]]
            entries += [None] * (active + 1 - len(entries))  # one spare: 8.2.4.3's shifting
            names: list[Key] = []
            pred = header.frame_num
            for at, (idc, value) in enumerate(header.modifications[n]):
                if idc not in (0, 1):
                    raise UnsupportedReferences(f"modification_of_pic_nums_idc {idc}")
                pred = (pred + (value + 1 if idc else -(value + 1))) % max_frame_num
                wanted = pred - max_frame_num if pred > header.frame_num else pred
                target = self._held(wanted, header.frame_num, max_frame_num)
                if target is None:
                    problems.append(f"a list names picNum {wanted}, which is not held")
                else:
                    names.append(target.key)
                entries[at + 1 :] = entries[at:active]
                entries[at] = target
                kept = [e for e in entries[at + 1 :] if e is None or e is not target]
                entries[at + 1 :] = kept + entries[at + 1 + len(kept) :]  # compaction
            lists.append(tuple(None if e is None else e.key for e in entries[:active]))
            named.append(tuple(names))
        return lists, tuple(named)

    # -- 8.2.5: marking ---------------------------------------------------------

    def _mark(
        self,
        picture: Picture,
        header: SliceHeader,
        max_frame_num: int,
        idr: bool,
        poc: int,
        problems: list[str],
    ) -> tuple[Key, ...]:
        """Mark the picture a short-term reference; the pictures its operations unmark."""
        unmarked = []
        if header.mmcos is not None:
            for mmco in header.mmcos:
                if mmco.op != 1:
                    raise UnsupportedReferences(f"memory_management_control_operation {mmco.op}")
                wanted = header.frame_num - (mmco.args[0] + 1)
                target = self._held(wanted, header.frame_num, max_frame_num)
                if target is None:
                    problems.append(f"an operation unmarks picNum {wanted}, which is not held")
                else:
                    self.refs.remove(target)
                    unmarked.append(target.key)
        elif not idr and len(self.refs) >= max(picture.sps.max_num_ref_frames, 1):
            # 8.2.5.3: a full store forgets its oldest short-term picture.
            self.refs.remove(
                min(self.refs, key=lambda r: _pic_num(r.frame_num, header.frame_num, max_frame_num))
            )
        self.refs.append(_Ref(picture.key, header.frame_num, poc))
        self.prev_ref_frame_num = header.frame_num
        if len(self.refs) > max(picture.sps.max_num_ref_frames, 1):
            problems.append("more reference frames than max_num_ref_frames")
        return tuple(unmarked)

    def _held(self, pic_num: int, frame_num: int, max_frame_num: int) -> _Ref | None:
        """The short-term reference with PicNum ``pic_num`` seen from ``frame_num``, if held."""
        return next(
            (r for r in self.refs if _pic_num(r.frame_num, frame_num, max_frame_num) == pic_num),
            None,
        )


def _simulate(pictures: Sequence[Picture]) -> dict[Key, _Decoded]:
    """Every picture decoded; UnsupportedReferences if a decoder would find a problem."""
    decoder = _Decoder()
    decoded = {}
    for picture in pictures:
        decoded[picture.key] = result = decoder.decode(picture)
        if result.problem:
            raise UnsupportedReferences(result.problem)
    return decoded


def _first_difference(pictures: Sequence[Picture], full: dict[Key, _Decoded]) -> Key | None:
    """The key of the first picture decoded differently than in ``full`` (None: none is)."""
    decoder = _Decoder()
    for picture in pictures:
        decoded = decoder.decode(picture)
        expected = full[picture.key]
        if decoded.problem or (decoded.poc, decoded.lists) != (expected.poc, expected.lists):
            return picture.key
    return None


def _closure(keys: Collection[Key], refers: dict[Key, set[Key]]) -> set[Key]:
    """``keys`` and every picture they refer to, directly or not."""
    needed, todo = set(keys), list(keys)
    while todo:
        for ref in refers[todo.pop()] - needed:
            needed.add(ref)
            todo.append(ref)
    return needed


def _renumbered(
    pictures: Sequence[Picture], keep: set[Key], full: dict[Key, _Decoded]
) -> list[Picture]:
    """The kept pictures, renumbered as if the others had never been coded."""
    out: list[Picture] = []
    frame_nums: dict[Key, int] = {}  # kept pictures' new frame_num
    left_out = 0  # reference pictures left out since the last IDR
    for picture in pictures:
        first = picture.slices[0]
        if first.nal_type == NAL_IDR:
            left_out = 0
        if picture.key not in keep:
            left_out += first.is_reference
            continue
        max_frame_num = 1 << picture.sps.log2_max_frame_num
        frame_num = (first.frame_num - left_out) % max_frame_num
        frame_nums[picture.key] = frame_num
        if not left_out:
            out.append(picture)
            continue

        def new_pic_num(key: Key) -> int:
            return _pic_num(frame_nums[key], frame_num, max_frame_num)  # noqa: B023 - called in this iteration only

        decoded = full[picture.key]
        unmarked = [new_pic_num(key) for key in decoded.unmarked if key in keep]
        # An operation that named a picture left out goes; none left: the sliding window.
        mmcos = tuple(Mmco(1, (frame_num - n - 1,)) for n in unmarked) or None
        headers = []
        for header, named in zip(picture.slices, decoded.named, strict=True):
            lists = [
                _modifications([new_pic_num(key) for key in names], frame_num, max_frame_num)
                for names in named
            ]
            lists += [()] * (2 - len(lists))
            headers.append(
                replace(
                    header,
                    frame_num=frame_num,
                    modifications=(lists[0], lists[1]),
                    mmcos=mmcos if first.mmcos is not None else None,
                )
            )
        out.append(replace(picture, slices=tuple(headers)))
    return out


def _modifications(
    pic_nums: Sequence[int], frame_num: int, max_frame_num: int
) -> tuple[tuple[int, int], ...]:
    """ref_pic_list_modification() operations that put ``pic_nums`` first, in order."""
    ops = []
    pred = frame_num
    for pic_num in pic_nums:
        no_wrap = pic_num + max_frame_num if pic_num < 0 else pic_num
        # Back to the same picture (listed twice, x264's weighted prediction does) is a
        # whole turn back.
        back = (pred - no_wrap) % max_frame_num or max_frame_num
        if back > max_frame_num // 2 and back != max_frame_num:
            ops.append((1, max_frame_num - back - 1))
        else:
            ops.append((0, back - 1))
        pred = no_wrap
    return tuple(ops)


def plan_decode(pictures: Sequence[Picture], targets: Collection[Key]) -> DecodePlan:
    """The pictures (given in decode order) a decoder needs to decode ``targets`` exactly
    as it does from all of them, and their new headers.

    Raises UnsupportedReferences when the stream uses what is not simulated,
    or when it takes too many rounds to find a set that decodes the same.
    """
    full = _simulate(pictures)
    refers = {
        key: {k for entries in d.lists for k in entries if k is not None} for key, d in full.items()
    }
    order = {picture.key: n for n, picture in enumerate(pictures)}
    originals = {picture.key: picture for picture in pictures}
    keep = _closure(targets, refers)
    for _ in range(MAX_ROUNDS):
        renumbered = _renumbered(pictures, keep, full)
        differs = _first_difference(renumbered, full)
        if differs is None:
            changed = {p.key: p.slices for p in renumbered if p is not originals[p.key]}
            return DecodePlan([p.key for p in renumbered], changed)
        left_out = [p.key for p in pictures[: order[differs]] if p.key not in keep]
        if not left_out:
            raise UnsupportedReferences("a picture decodes differently with nothing left out")
        keep |= _closure([left_out[-1]], refers)
    raise UnsupportedReferences(f"no set found in {MAX_ROUNDS} rounds")
