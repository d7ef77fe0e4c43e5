"""Replaying many cards at once: :mod:`llmcards.fastfsrs`'s arithmetic over arrays.

Rescheduling a heavy user's 100k cards replays two million reviews. One review at a time, in
Python, that is about a minute; here every card's k-th review is replayed together, as numpy
arrays over the cards that have one, so a replay takes as many steps as the longest history.

The results are bit-for-bit what :class:`llmcards.fastfsrs.FastScheduler` (hence fsrs) gives:
- additions, multiplications, divisions, comparisons and ``rint`` are exact IEEE operations in
  numpy as in Python, and every expression keeps fastfsrs's order of operations;
- ``min``/``max`` are written as Python's (``max(a, b)`` is ``b if b > a else a``);
- powers are NOT numpy's: ``np.power`` may use its own SIMD code (SVML on AVX-512), which can
  differ from the C library's ``pow`` in the last bit. Each power is ``math.pow``, which calls the
  same ``pow`` as Python's ``**`` does, element by element;
- the fuzz draw is :func:`llmcards.scheduler.fuzz_uniform`'s hash, one per review that needs it.
A property test (tests/test_fastreplay.py) compares this with FastScheduler on random histories,
parameters and settings. Inputs fastfsrs would reject (a state outside 0-3, a stability without
a last review...) raise :class:`Unsupported`; callers then replay one review at a time.

numpy is imported only here, and this module only by a replay of many cards.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcards.fastfsrs import LEARNING, RELEARNING, REVIEW, US_PER_DAY, Fast, FastScheduler

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]

_NEG = np.int64(-1)  # a step of None


class Unsupported(ValueError):
    """An input the array replay does not take (fastfsrs would fail on it, or the text is not the
    store's own format): replay it one review at a time instead."""


# ----------------------------------------------------------------------------- Python's min, max, pow
def _max(a: Any, b: Any) -> Any:
    """``max(a, b)`` as Python computes it: ``b`` if ``b > a``, else ``a``."""
    return np.where(b > a, b, a)


def _min(a: Any, b: Any) -> Any:
    """``min(a, b)`` as Python computes it: ``b`` if ``b < a``, else ``a``."""
    return np.where(b < a, b, a)


def _pow(base: F64 | float, exponent: F64 | float, n: int) -> F64:
    """``base ** exponent`` element by element, with the C library's ``pow`` (as Python's ``**``)."""
    b = repeat(base) if isinstance(base, float) else base.tolist()
    e = repeat(exponent) if isinstance(exponent, float) else exponent.tolist()
    return np.fromiter(map(math.pow, b, e), np.float64, count=n)


def _rint_checked(x: F64) -> F64:
    """Python's ``round`` (half to even), refusing what it would refuse (inf, nan)."""
    if not np.isfinite(x).all():
        raise Unsupported("an interval that is not a finite number")
    return np.rint(x)


# ----------------------------------------------------------------------------- states
@dataclass
class States:
    """Cards' scheduling states, one element per card (fastfsrs's ``Fast`` tuples as columns).

    ``step`` is -1 for None; ``stability`` and ``difficulty`` mean something where ``known``,
    ``due`` where ``has_due`` and ``last`` where ``has_last``.
    """

    state: I64
    step: I64
    stability: F64
    difficulty: F64
    known: Mask
    due: I64
    has_due: Mask
    last: I64
    has_last: Mask
    reps: I64
    lapses: I64

    @classmethod
    def new(cls, n: int) -> States:
        """``n`` cards never reviewed (fastfsrs's ``NEW``)."""
        zi, zf, zb = np.zeros(n, np.int64), np.zeros(n, np.float64), np.zeros(n, np.bool_)
        return cls(zi.copy(), np.full(n, _NEG), zf.copy(), zf.copy(), zb.copy(), zi.copy(), zb.copy(), zi.copy(),
                   zb.copy(), zi.copy(), zi.copy())

    @classmethod
    def of(cls, states: Sequence[Fast]) -> States:
        """Cards' states given as fastfsrs tuples (a stored schedule: ``fastfsrs.from_card_state``)."""
        out = cls.new(len(states))
        for i, (state, step, s, d, due, last, reps, lapses) in enumerate(states):
            out.state[i], out.reps[i], out.lapses[i] = state, reps, lapses
            out.step[i] = -1 if step is None else step
            if s is not None and d is not None:
                out.stability[i], out.difficulty[i], out.known[i] = s, d, True
            elif s is not None or d is not None:
                raise Unsupported("a stability without a difficulty, or the reverse")
            if due is not None:
                out.due[i], out.has_due[i] = due, True
            if last is not None:
                out.last[i], out.has_last[i] = last, True
        return out

    def tuples(self) -> list[Fast]:
        """The states as fastfsrs tuples."""
        known, has_due, has_last = self.known.tolist(), self.has_due.tolist(), self.has_last.tolist()
        return [(state, None if step < 0 else step, s if k else None, d if k else None, due if hd else None,
                 last if hl else None, reps, lapses)
                for state, step, s, d, k, due, hd, last, hl, reps, lapses in zip(
                    self.state.tolist(), self.step.tolist(), self.stability.tolist(), self.difficulty.tolist(),
                    known, self.due.tolist(), has_due, self.last.tolist(), has_last, self.reps.tolist(),
                    self.lapses.tolist(), strict=True)]

    @classmethod
    def concatenate(cls, parts: Sequence[States]) -> States:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))

    def take(self, index: I64) -> States:
        return States(*(getattr(self, f)[index] for f in _FIELDS))

    def put(self, index: I64, other: States) -> None:
        for f in _FIELDS:
            getattr(self, f)[index] = getattr(other, f)

    def __len__(self) -> int:
        return len(self.state)


_FIELDS = ("state", "step", "stability", "difficulty", "known", "due", "has_due", "last", "has_last", "reps", "lapses")


@dataclass
class Logged:
    """What each review's row keeps (see ``replay.py``'s ``rewrite_logs``), one element per review:
    the state before it and the interval it had (``prev_interval_days``, NaN where None), and the
    state, stability, difficulty and due it gave."""

    prev_state: I64
    prev_interval_days: F64
    has_prev_interval: Mask
    state: I64
    stability: F64
    difficulty: F64
    due: I64


@dataclass
class Replayed:
    """:func:`replay`'s result: each card's final state, and each review's log columns if asked."""

    final: States
    logged: Logged | None


# ----------------------------------------------------------------------------- the replay
class ArrayScheduler:
    """:class:`FastScheduler`'s arithmetic over arrays, with its constants."""

    def __init__(self, fast: FastScheduler) -> None:
        self.fast = fast
        p = fast.p
        self.p = p
        # Tables indexed by grade (index 0 unused).
        self.init_s = np.array([0.0] + [max(p[g - 1], fast.s_min) for g in range(1, 5)])
        self.init_d = np.array([0.0] + [fast.init_d[g] for g in range(1, 5)])
        self.short_term = np.array([0.0] + [fast.short_term[g] for g in range(1, 5)])
        self.hard_penalty = np.array([1.0, 1.0, p[15], 1.0, 1.0])
        self.easy_bonus = np.array([1.0, 1.0, 1.0, 1.0, p[16]])
        self.p7_easy_d: float = p[7] * fast.easy_d
        self.one_minus_p7: float = 1 - p[7]
        learning, self.hard0_learning = fast.learning
        relearning, self.hard0_relearning = fast.relearning
        self.n_learning, self.n_relearning = len(learning), len(relearning)
        width = max(1, self.n_learning, self.n_relearning)
        # Row 0: learning steps; row 1: relearning steps (µs), padded.
        self.steps = np.zeros((2, width), np.int64)
        self.steps[0, :self.n_learning] = learning
        self.steps[1, :self.n_relearning] = relearning

    # fastfsrs's formulas, over the cards given (same expressions, same order)
    def next_difficulty(self, d: F64, g: I64) -> F64:
        p = self.p
        delta = -(p[6] * (g - 3).astype(np.float64))
        arg_2 = d + (10.0 - d) * delta / 9.0
        value = self.p7_easy_d + self.one_minus_p7 * arg_2
        result: F64 = _min(_max(value, self.fast.d_min), self.fast.d_max)
        return result

    def short_term_stability(self, s: F64, g: I64) -> F64:
        increase = self.short_term[g] * _pow(s, -self.p[19], len(s))
        increase = np.where(g >= 2, _max(increase, 1.0), increase)
        result: F64 = _max(s * increase, self.fast.s_min)
        return result

    def retrievability(self, s: F64, last: I64, now: I64) -> F64:
        elapsed_days = _max(np.int64(0), (now - last) // US_PER_DAY)
        return _pow(1 + self.fast.factor * elapsed_days.astype(np.float64) / s, self.fast.decay, len(s))

    def next_stability(self, d: F64, s: F64, r: F64, g: I64) -> F64:
        p, n = self.p, len(s)
        value = np.empty(n, np.float64)
        forget = g == 1
        if forget.any():
            df, sf, rf = d[forget], s[forget], r[forget]
            k = len(df)
            long_term = (p[11] * _pow(df, -p[12], k) * (_pow(sf + 1, p[13], k) - 1)
                         * _pow(math.e, (1 - rf) * p[14], k))
            value[forget] = _min(long_term, sf / self.fast.forget_short)
        recall = ~forget
        if recall.any():
            dr, sr, rr, gr = d[recall], s[recall], r[recall], g[recall]
            k = len(dr)
            value[recall] = sr * (1 + self.fast.e_p8 * (11 - dr) * _pow(sr, -p[9], k)
                                  * (_pow(math.e, (1 - rr) * p[10], k) - 1)
                                  * self.hard_penalty[gr] * self.easy_bonus[gr])
        result: F64 = _max(value, self.fast.s_min)
        return result

    def next_interval_days(self, s: F64) -> I64:
        interval = _rint_checked((s / self.fast.factor) * self.fast.interval_k)
        result: I64 = _min(_max(interval, 1.0), float(self.fast.maximum_interval)).astype(np.int64)
        return result

    def fuzzed_days(self, days: I64, u: F64) -> I64:
        """fastfsrs's ``_fuzzed_days`` for days >= 3 (below, the days are kept as they are)."""
        maximum = float(self.fast.maximum_interval)
        fd = days.astype(np.float64)
        delta = np.full(len(days), 1.0)
        for start, end, factor in self.fast.fuzz_ranges:
            delta = delta + factor * _max(_min(fd, end) - start, 0.0)
        max_ivl = _min(_rint_checked(fd + delta), maximum)
        min_ivl = _min(_max(2.0, _rint_checked(fd - delta)), max_ivl)
        result: I64 = _min(_rint_checked((u * (max_ivl - min_ivl + 1)) + min_ivl), maximum).astype(np.int64)
        return result

    def review(self, c: States, g: I64, now: I64, uniforms: Callable[[I64, I64], F64],
               exact: Mask | None = None) -> States:
        """Every card of ``c`` graded ``g[i]`` at ``now[i]``: :meth:`FastScheduler.review` for each.
        ``uniforms(index, reps)`` gives the fuzz draws of the cards at ``index`` (into ``c``).

        ``exact``: the cards whose new due date is wanted. A due date is never an input of the
        next review (elapsed time is counted from the last review), so the others skip the fuzz
        draw (a hash each, the replay's largest cost) and get an unfuzzed due date."""
        n = len(c)
        before = c.state
        if ((before < 0) | (before > 3)).any():
            raise Unsupported("a state outside 0-3")
        state = np.where(before == 0, np.int64(LEARNING), before)
        step = np.where(before == 0, np.int64(0), c.step)
        s, d = c.stability.copy(), c.difficulty.copy()
        days_since = (now - c.last) // US_PER_DAY
        short = c.has_last & (days_since < 1)
        learn = (state == LEARNING) | (state == RELEARNING)
        review = state == REVIEW

        first = learn & ~c.known
        s[first], d[first] = self.init_s[g[first]], self.init_d[g[first]]
        if (review & ~c.known).any():
            raise Unsupported("a card in review without stability or difficulty")
        again = (learn & c.known) | review
        short_again, long_again = again & short, again & ~short
        if (long_again & ~c.has_last).any():
            raise Unsupported("a card with a stability but no last review")
        if short_again.any():
            s[short_again] = self.short_term_stability(s[short_again], g[short_again])
        if long_again.any():
            sl, dl, gl = s[long_again], d[long_again], g[long_again]
            r = self.retrievability(sl, c.last[long_again], now[long_again])
            s[long_again] = self.next_stability(dl, sl, r, gl)
        if again.any():
            d[again] = self.next_difficulty(d[again], g[again])

        interval = np.zeros(n, np.int64)
        to_review = np.zeros(n, np.bool_)
        if learn.any():
            relearning = state == RELEARNING
            row = relearning.astype(np.int64)
            n_steps = np.where(relearning, self.n_relearning, self.n_learning)
            if (learn & (step < 0)).any():
                raise Unsupported("a learning card without a step")
            done = learn & ((n_steps == 0) | ((step >= n_steps) & (g >= 2)))
            rest = learn & ~done
            to_review |= done | (rest & (g == 4)) | (rest & (g == 3) & (step + 1 == n_steps))
            width = self.steps.shape[1]
            g1 = rest & (g == 1)
            step[g1] = 0
            interval[g1] = self.steps[row[g1], 0]
            g2 = rest & (g == 2)
            hard0 = np.where(relearning, self.hard0_relearning or 0, self.hard0_learning or 0)
            interval[g2] = np.where(step[g2] == 0, hard0[g2],
                                    self.steps[row[g2], np.minimum(step[g2], width - 1)])
            g3 = rest & (g == 3) & (step + 1 != n_steps)
            step[g3] += 1
            interval[g3] = self.steps[row[g3], np.minimum(step[g3], width - 1)]
        if review.any():
            lapse_to_relearning = review & (g == 1) & (self.n_relearning > 0)
            state[lapse_to_relearning] = RELEARNING
            step[lapse_to_relearning] = 0
            interval[lapse_to_relearning] = self.steps[1, 0]
            to_review |= review & ~lapse_to_relearning
        state[to_review] = REVIEW
        step[to_review & learn] = _NEG
        if to_review.any():
            days = self.next_interval_days(s[to_review])
            if self.fast.fuzz:
                fuzzed = days >= 3
                if exact is not None:
                    fuzzed &= exact[to_review]
                if fuzzed.any():
                    index = np.flatnonzero(to_review)[fuzzed]
                    days[fuzzed] = self.fuzzed_days(days[fuzzed], uniforms(index, c.reps[index]))
            interval[to_review] = days * US_PER_DAY
        lapses = c.lapses + ((before == REVIEW) & (g == 1))
        ones = np.ones(n, np.bool_)
        return States(state, step, s, d, ones, now + interval, ones, now.copy(), ones.copy(), c.reps + 1, lapses)


class _Draws:
    """The fuzz draws of the cards' reviews: :func:`llmcards.scheduler.fuzz_uniform` (blake2b of
    ``"{card_id}:{reps}"``), with each card's id hashed once and that state copied per draw."""

    def __init__(self, card_ids: Sequence[str]) -> None:
        self.bases = [hashlib.blake2b(f"{card_id}:".encode(), digest_size=8) for card_id in card_ids]

    def __call__(self, cards: I64, reps: I64) -> F64:
        """The draws of the cards at positions ``cards``, graded ``reps`` times before."""
        bases = self.bases
        digests = bytearray()
        if len(reps) and reps.min() == reps.max():  # the usual case: every card replayed from new
            suffix = b"%d" % int(reps[0])
            for i in cards.tolist():
                h = bases[i].copy()
                h.update(suffix)
                digests += h.digest()
        else:
            for i, r in zip(cards.tolist(), reps.tolist(), strict=True):
                h = bases[i].copy()
                h.update(b"%d" % r)
                digests += h.digest()
        result: F64 = (np.frombuffer(bytes(digests), ">u8") >> 11).astype(np.float64) * 2.0**-53
        return result


Draws = Callable[[I64, I64], F64]  # (cards, reps) -> the fuzz draws of those cards graded reps times before


def replay(fast: FastScheduler, card_ids: Sequence[str], counts: I64, ratings: NDArray[Any], times: I64, *,
           start: States | None = None, logs: bool = False, draws: Draws | None = None,
           progress: Callable[[int], None] | None = None) -> Replayed:
    """Each card's state after its reviews, from ``start`` (never reviewed when None).

    Card ``i`` has ``counts[i]`` reviews (cram ones left out), at ``offset[i] = sum(counts[:i])``
    in ``ratings`` (1-4) and ``times`` (µs since the epoch), in the order they are replayed.
    With ``logs``, each review's log columns are returned too, in the same order as ``ratings``.
    ``draws`` gives the fuzz draws (cards as positions in ``card_ids``; made from the card ids when
    None). ``progress`` is called with the number of cards whose reviews are all replayed.
    """
    n = len(card_ids)
    if len(counts) != n or int(counts.sum()) != len(ratings) or len(times) != len(ratings):
        raise ValueError("counts, ratings and times disagree")
    if len(ratings) and ((ratings < 1) | (ratings > 4)).any():
        raise Unsupported("a rating outside 1-4")
    states = start if start is not None else States.new(n)
    if len(states) != n:
        raise ValueError("start has a state per card")
    offsets = np.zeros(n, np.int64)
    np.cumsum(counts[:-1], out=offsets[1:])
    # Longest histories first: the cards still replaying at step k are the first active[k].
    order = np.argsort(-counts, kind="stable")
    sorted_counts = counts[order]
    sorted_offsets = offsets[order]
    cards = states.take(order)
    if draws is None and fast.fuzz:
        draws = _Draws(card_ids)
    scheduler = ArrayScheduler(fast)
    logged = _empty_logged(len(ratings)) if logs else None
    longest = int(sorted_counts[0]) if n else 0
    # active[k]: how many cards have more than k reviews (counts are sorted in decreasing order).
    active = np.searchsorted(-sorted_counts, -np.arange(longest + 1), side="left")

    def uniforms(index: I64, reps: I64) -> F64:  # index: positions in `cards`, longest histories first
        assert draws is not None
        return draws(order[index], reps)

    for k in range(longest):
        m = int(active[k])
        if m == 0:
            break
        pos = sorted_offsets[:m] + k
        c = cards.take(np.arange(m))
        g = ratings[pos].astype(np.int64)
        now = times[pos]
        try:
            # Without logs only each card's last due date is kept: the others need no fuzz draw.
            exact = None if logged is not None else sorted_counts[:m] == k + 1
            with np.errstate(divide="raise", over="raise", invalid="raise"):
                new = scheduler.review(c, g, now, uniforms, exact)
        except (ArithmeticError, ValueError) as e:  # pow() out of range, an infinity...: let fastfsrs say what
            raise Unsupported(str(e)) from e
        if logged is not None:
            logged.prev_state[pos] = c.state
            has_interval = c.has_due & c.has_last
            if (np.abs(np.where(has_interval, c.due - c.last, 0)) >= 2**53).any():
                raise Unsupported("an interval too long for a float")  # int / int would round once, not twice
            logged.has_prev_interval[pos] = has_interval
            logged.prev_interval_days[pos] = np.where(
                has_interval, (c.due - c.last).astype(np.float64) / 1_000_000 / 86400, np.nan)
            logged.state[pos] = new.state
            logged.stability[pos] = new.stability
            logged.difficulty[pos] = new.difficulty
            logged.due[pos] = new.due
        cards.put(np.arange(m), new)
        if progress is not None:
            progress(n - int(active[k + 1]))
    final = States.new(n)
    final.put(order, cards)
    if progress is not None and longest == 0:
        progress(n)
    return Replayed(final, logged)


def _empty_logged(n: int) -> Logged:
    return Logged(np.zeros(n, np.int64), np.zeros(n, np.float64), np.zeros(n, np.bool_), np.zeros(n, np.int64),
                  np.zeros(n, np.float64), np.zeros(n, np.float64), np.zeros(n, np.int64))


# ----------------------------------------------------------------------------- stored times
# The store's time format (``to_db``): "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC, 26 characters.
TEXT_WIDTH = 26
_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22, 23, 24, 25]
_SEPARATORS = {4: ord("-"), 7: ord("-"), 10: ord(" "), 13: ord(":"), 16: ord(":"), 19: ord(".")}
_MIN_DAYS = -719162  # 0001-01-01, datetime's first day
_MAX_DAYS = 2932896  # 9999-12-31


def _days_from_civil(y: I64, m: I64, d: I64) -> I64:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    result: I64 = era * 146097 + doe - 719468
    return result


def _civil_from_days(z: I64) -> tuple[I64, I64, I64]:
    z = z + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def text_bytes(us: I64) -> NDArray[np.uint8]:
    """Times in µs since the epoch as the store writes them, one row of TEXT_WIDTH bytes each."""
    days, rest = np.divmod(us, US_PER_DAY)
    if len(days) and ((days < _MIN_DAYS) | (days > _MAX_DAYS)).any():
        raise Unsupported("a time outside years 1-9999")
    y, m, d = _civil_from_days(days)
    seconds, micro = np.divmod(rest, 1_000_000)
    hours, seconds = np.divmod(seconds, 3600)
    minutes, seconds = np.divmod(seconds, 60)
    out = np.empty((len(us), TEXT_WIDTH), np.uint8)
    for col, char in _SEPARATORS.items():
        out[:, col] = char
    for value, first, width in ((y, 0, 4), (m, 5, 2), (d, 8, 2), (hours, 11, 2), (minutes, 14, 2),
                                (seconds, 17, 2), (micro, 20, 6)):
        for i in range(width):
            out[:, first + width - 1 - i] = value // 10**i % 10 + 48
    return out


def format_times(us: I64) -> list[str]:
    """Times in µs since the epoch as the store's text (what ``replay._text`` gives, one by one)."""
    if not len(us):
        return []
    texts: list[str] = text_bytes(us).view(f"S{TEXT_WIDTH}").ravel().astype(f"U{TEXT_WIDTH}").tolist()
    return texts


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


def parse_times(raw: bytes) -> I64:
    """The store's times, concatenated (TEXT_WIDTH bytes each), as µs since the epoch: what
    ``datetime.fromisoformat`` gives. Anything but the store's own format raises Unsupported."""
    if len(raw) % TEXT_WIDTH:
        raise Unsupported("a stored time that is not in the store's format")
    b = np.frombuffer(raw, np.uint8).reshape(-1, TEXT_WIDTH)
    if not len(b):
        return np.zeros(0, np.int64)
    digits = b - np.uint8(48)  # wraps around below "0": anything but a digit is > 9
    if (digits[:, _DIGITS] > 9).any() or any((b[:, col] != char).any() for col, char in _SEPARATORS.items()):
        raise Unsupported("a stored time that is not in the store's format")

    def number(first: int, width: int) -> I64:
        value: I64 = digits[:, first].astype(np.int64)
        for col in range(first + 1, first + width):
            value = value * 10 + digits[:, col]
        return value

    y, m, d = number(0, 4), number(5, 2), number(8, 2)
    hours, minutes, seconds, micro = number(11, 2), number(14, 2), number(17, 2), number(20, 6)
    if ((y < 1) | (m < 1) | (m > 12) | (d < 1) | (hours > 23) | (minutes > 59) | (seconds > 59)).any():
        raise Unsupported("a stored time that is not a valid time")
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    if (d > _DAYS_IN_MONTH[m] + (leap & (m == 2))).any():
        raise Unsupported("a stored time that is not a valid time")
    us: I64 = ((_days_from_civil(y, m, d) * 86400 + hours * 3600 + minutes * 60 + seconds) * 1_000_000 + micro)
    return us


# ----------------------------------------------------------------------------- the store's bulk input
@dataclass
class BulkInput:
    """The store's review log as arrays, ready for :func:`replay`: every card with a review among
    those asked for, by card_id, and their non-cram reviews card after card, in replay order."""

    card_ids: list[str]
    counts: I64  # each card's non-cram reviews
    ratings: NDArray[np.int8]
    times: I64  # µs since the epoch
    log_ids: I64  # the reviews' rows

    def offsets(self) -> I64:
        out = np.zeros(len(self.counts) + 1, np.int64)
        np.cumsum(self.counts, out=out[1:])
        return out


def _ints(text: str, n: int) -> I64:
    """``n`` comma-separated integers."""
    if not n:
        return np.zeros(0, np.int64)
    values: I64 = np.array(text.split(","), dtype=np.int64) if n < 64 else np.fromstring(text, np.int64, sep=",")
    if len(values) != n:
        raise Unsupported("review ids that do not read back")
    return values


def read_bulk(history: Any, card_ids: Sequence[str] | None, *, strict: bool = False) -> BulkInput:
    """Read the reviews of ``card_ids`` (every card with a review when None) through the store's
    ``History.replay_groups`` and ``replay_columns``. Unsupported if a row is not in the store's own
    format (a rating outside 1-4, a cram flag neither 0 nor 1, a time that is not ``to_db``'s text),
    or with ``strict``, if a row's state or prev_state is outside 0-3."""
    # Each card's review ids and times in replay order, from the card index (which holds both),
    # parsed a batch of cards at a time.
    ids: list[str] = []
    all_counts: list[int] = []
    order_parts: list[I64] = []
    times_parts: list[I64] = []
    id_texts: list[str] = []
    time_texts: list[str] = []
    pending = 0

    def parse_batch() -> None:
        nonlocal pending
        order_parts.append(_ints(",".join(id_texts), pending))
        try:
            times_parts.append(parse_times("".join(time_texts).encode("ascii")))
        except UnicodeEncodeError as e:
            raise Unsupported("a stored time that is not in the store's format") from e
        id_texts.clear()
        time_texts.clear()
        pending = 0

    for card_id, n, id_text, time_text in history.replay_groups(card_ids):
        if time_text is None or len(time_text) != TEXT_WIDTH * n:
            raise Unsupported("a stored time that is not in the store's format")
        ids.append(card_id)
        all_counts.append(n)
        id_texts.append(id_text)
        time_texts.append(time_text)
        pending += n
        if pending >= 200_000:
            parse_batch()
    parse_batch()
    order = np.concatenate(order_parts)
    times = np.concatenate(times_parts)
    order_parts.clear()
    times_parts.clear()
    counts_all = np.array(all_counts, np.int64)
    del all_counts

    # The rows' ratings and cram flags, in id order (or card by card). Rows not in the store's format
    # are left out by the store (its times included, each checked there): below, they are missing.
    parts = [_parse_chunk(chunk) for chunk in
             history.replay_columns(some=card_ids is not None, reviews=len(order), states=strict)]
    row_ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    row_ratings = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int8)
    row_cram = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.bool_)
    del parts

    # Each review's rating and cram flag (in replay order), from the rows read.
    if len(row_ids) > 1 and not (row_ids[1:] > row_ids[:-1]).all():
        by_id = np.argsort(row_ids, kind="stable")
        row_ids, row_ratings, row_cram = row_ids[by_id], row_ratings[by_id], row_cram[by_id]
    ratings, cram = _gather(row_ids, order, row_ratings, row_cram)
    del row_ids, row_ratings, row_cram
    # The index gives each card's reviews by (reviewed_at, id); make sure, and sort if not.
    if len(order) > 1:
        in_order = times[1:] > times[:-1]
        in_order |= (times[1:] == times[:-1]) & (order[1:] > order[:-1])
        card_ends = np.cumsum(counts_all)[:-1]
        in_order[card_ends[(card_ends > 0) & (card_ends < len(order))] - 1] = True  # a card's first review
        if not in_order.all():
            card_of = np.repeat(np.arange(len(ids), dtype=np.int32), counts_all)
            resort = np.lexsort((order, times, card_of))
            order, times, ratings, cram = order[resort], times[resort], ratings[resort], cram[resort]
        del in_order
    if not cram.any():  # the usual case: no copies
        _refuse_ties(times, counts_all)
        return BulkInput(ids, counts_all, ratings, times, order)
    keep = ~cram
    card_of = np.repeat(np.arange(len(ids), dtype=np.int32), counts_all)
    counts = np.bincount(card_of[keep], minlength=len(ids)).astype(np.int64)
    _refuse_ties(times[keep], counts)
    return BulkInput(ids, counts, ratings[keep], times[keep], order[keep])


def _refuse_ties(times: I64, counts: I64) -> None:
    """Two replayed (non-cram) reviews of a card at the same microsecond (from two devices, say):
    every device replays them in the order of their review ids (uuid), which only the one-by-one
    replay reads, so this one gives up."""
    if len(times) < 2:
        return
    same = times[1:] == times[:-1]
    if not same.any():
        return
    card_ends = np.cumsum(counts)[:-1]
    same[card_ends[(card_ends > 0) & (card_ends < len(times))] - 1] = False  # across two cards
    if same.any():
        raise Unsupported("two reviews of one card at the same instant")


def _parse_chunk(chunk: Any) -> tuple[I64, NDArray[np.int8], Mask]:
    """A ``ReviewChunk``'s strings as arrays: ids, ratings, cram flags."""
    ids = _ints(chunk.ids, chunk.rows)
    ratings = (np.frombuffer(chunk.ratings.encode("ascii"), np.uint8) - 48).astype(np.int8)
    cram = np.frombuffer(chunk.cram.encode("ascii"), np.uint8) != ord("0")
    if not len(ratings) == len(cram) == chunk.rows:
        raise Unsupported("review rows not in the store's format")
    return ids, ratings, cram


def _gather(sorted_ids: I64, wanted: I64, *columns: NDArray[Any]) -> list[NDArray[Any]]:
    """``columns`` (one value per id of ``sorted_ids``: increasing, unique) at the ids ``wanted``, a
    slice at a time (so that no index array as long as ``wanted`` is ever made)."""
    out = [np.empty(len(wanted), column.dtype) for column in columns]
    if not len(wanted):
        return out
    if not len(sorted_ids) or wanted.min() < sorted_ids[0] or wanted.max() > sorted_ids[-1]:
        raise Unsupported("review rows that were not read")
    low = int(sorted_ids[0])
    span = int(sorted_ids[-1]) - low + 1
    table: NDArray[Any] | None = None
    if span <= 4 * len(sorted_ids) + 1024:  # ids are dense: a table from id to position
        table = np.full(span, -1, np.int32 if len(sorted_ids) < 2**31 else np.int64)
        table[sorted_ids - low] = np.arange(len(sorted_ids))
    step = 1 << 18
    for start in range(0, len(wanted), step):
        part = wanted[start:start + step]
        if table is not None:
            at = table[part - low]
            if (at < 0).any():
                raise Unsupported("review rows that were not read")
        else:
            at = np.searchsorted(sorted_ids, part)
            if not np.array_equal(sorted_ids[at], part):
                raise Unsupported("review rows that were not read")
        for column, result in zip(columns, out, strict=True):
            result[start:start + step] = column[at]
    return out


def schedule_columns(final: States) -> list[tuple[Any, ...]]:
    """Each card's state as the schedule columns the store writes (``replay._columns``'s)."""
    n = len(final)
    due = _texts_or_none(final.due, final.has_due)
    last = _texts_or_none(final.last, final.has_last)
    step = [None if v < 0 else v for v in final.step.tolist()]
    known = final.known.tolist()
    stability = [v if k else None for v, k in zip(final.stability.tolist(), known, strict=True)]
    difficulty = [v if k else None for v, k in zip(final.difficulty.tolist(), known, strict=True)]
    return list(zip(final.state.tolist(), step, stability, difficulty, due, last, final.reps.tolist(),
                    final.lapses.tolist(), strict=True)) if n else []


def _texts_or_none(us: I64, present: Mask) -> list[str | None]:
    out: list[str | None] = [None] * len(us)
    index = np.flatnonzero(present)
    for i, text in zip(index.tolist(), format_times(us[index]), strict=True):
        out[i] = text
    return out


def log_rows(logged: Logged, log_ids: I64, *, batch: int = 50_000) -> Iterator[tuple[Any, ...]]:
    """Each review's log columns as ``History.write_replay`` takes them: (prev_state,
    prev_interval_days, state, stability, difficulty, due, log id), made ``batch`` rows at a time."""
    for start in range(0, len(log_ids), batch):
        part = slice(start, start + batch)
        interval: list[float | None] = logged.prev_interval_days[part].tolist()
        for i in np.flatnonzero(~logged.has_prev_interval[part]).tolist():
            interval[i] = None
        yield from zip(logged.prev_state[part].tolist(), interval, logged.state[part].tolist(),
                       logged.stability[part].tolist(), logged.difficulty[part].tolist(),
                       format_times(logged.due[part]), log_ids[part].tolist(), strict=True)
