"""The nomination kernel of candidate generation (`scoring.candidates`): a block's source
heads walked entry by entry in compiled code, with one course-indexed scratch array per
quantity reused across members, instead of array passes over every entry of the block.

Per member: each live, undismissed entry of a source's head counts at its tied group's
rank among the first `limit` entries; a course takes its best rank; the `limit` best
(ties in catalog row order) are the candidates when the heads decide them (no head left
out short of `limit` could add a course ranked better than the `limit`-th). The heads
are merged in rank order, tied group by tied group, and the walk stops once the groups
left cannot change the `limit` best (the rest of the heads is not read); where every
head holds its source's whole list, no order can change a course's best rank, and each
head is walked on its own. Each candidate's reason key is its best (rank among the
candidates in a label source's head) * `n_labels` + label; a member is `unsettled` when
a head that left courses out could rank a candidate as well as its key says, so the
caller ranks it in full there.
"""

from __future__ import annotations

import numba
import numpy as np

NO_RANK = np.iinfo(np.int32).max
NO_KEY = np.iinfo(np.int64).max
_DISTINCT = 16  # affinity heads with at most this many distinct scores are ranked by counting
_SLOTS = 64  # their lookup table (a power of two, well over _DISTINCT)
_SPREAD = 1e6 + 7.0  # scores to table slots


@numba.njit(cache=True, nogil=True)
def nominate(
    rows: np.ndarray,  # (E,) int64: catalog rows of the source lists read, concatenated
    values: np.ndarray,  # (E,) float64: their scores, descending within a list
    bounds: np.ndarray,  # (L + 1,) int64: list l is entries bounds[l]:bounds[l + 1]
    more: np.ndarray,  # (L,) bool: list l leaves courses of its source out
    source: np.ndarray,  # (S,) int64: the list of label source s of some member
    label: np.ndarray,  # (S,) int64: source s's label index
    member_sources: np.ndarray,  # (P + 1,) int64: member j's are member_sources[j]:[j + 1]
    member: np.ndarray,  # (P,) int64: member j's row in `column`
    affinity: np.ndarray,  # (Q, U) float64: nominate-only scores of each distinct skill row
    skill_row: np.ndarray,  # (n,) int64: each course's distinct skill row
    live: np.ndarray,  # (U,) int64: the live courses of each distinct skill row
    column: np.ndarray,  # (M, 2) int64: member's row in `affinity` of kind k (-1: none, 0s)
    need: np.ndarray,  # (P,) int64: how deep member j's heads go (then their ties)
    retired: np.ndarray,  # (n,) bool
    dismissed: np.ndarray,  # (D,) int64: dismissed rows, member j's at dis_bounds[j]:[j + 1]
    dis_bounds: np.ndarray,  # (P + 1,) int64
    limit: int,
    n_labels: int,
):
    """(decided (P,), candidate bounds (P + 1,), candidate rows, their reason keys, their
    affinity scores (C, 2), unsettled (P,), candidates in each source's head (S,),
    whether each head left courses out (S,))."""
    p, n = len(need), len(retired)
    best = np.full(n, NO_RANK, np.int32)
    at = np.full(n, -1, np.int32)
    key = np.full(n, NO_KEY, np.int64)
    blocked = retired.copy()
    touched = np.empty(n + 1, np.int64)  # + 1: the branch-free store past the last
    per_rank = np.zeros(limit + 2, np.int64)
    order = np.empty(n, np.int64)
    ranked = np.empty(n, np.int64)
    head_rows = np.empty((2, n), np.int64)  # the affinity heads of a member, by kind
    head_values = np.empty((2, n), np.float64)
    walk = np.empty((len(label) + 2, 5), np.int64)  # a member's heads: see `_merged_walk`
    positive = np.empty(n, np.int64)
    decided = np.zeros(p, np.bool_)
    unsettled = np.zeros(p, np.bool_)
    cand_bounds = np.zeros(p + 1, np.int64)
    cand_rows = np.empty(p * limit, np.int64)
    cand_key = np.empty(p * limit, np.int64)
    cand_affinity = np.empty((p * limit, 2))
    in_head = np.zeros(len(label), np.int64)
    head_end = np.zeros(len(label), np.int64)
    left = np.zeros(len(label), np.bool_)
    n_cand = 0
    for j in range(p):
        for d in range(dis_bounds[j], dis_bounds[j + 1]):
            blocked[dismissed[d]] = True
        n_heads = 0
        for s in range(member_sources[j], member_sources[j + 1]):
            lo, hi = bounds[source[s]], bounds[source[s] + 1]
            head_end[s] = _head_end(values, lo, hi, need[j])
            left[s] = head_end[s] < hi or more[source[s]]
            n_heads = _add_head(walk, n_heads, -1, lo, head_end[s], left[s])
        for k in range(2):
            if column[member[j], k] < 0:
                continue
            size, cut_left = _affinity_head(
                affinity[column[member[j], k]],
                skill_row,
                live,
                retired,
                need[j],
                positive,
                head_rows[k],
                head_values[k],
            )
            n_heads = _add_head(walk, n_heads, k, 0, size, cut_left)
        whole = True  # every head holds all its source's courses: no order to keep
        for h in range(n_heads):
            whole &= not walk[h, 4]
        if whole:
            decided[j], n_touched = _each_walk(
                rows, values, head_rows, head_values, walk, n_heads, blocked, best, touched, limit
            )
        else:
            decided[j], n_touched = _merged_walk(
                rows, values, head_rows, head_values, walk, n_heads, blocked, best, touched, limit
            )
        if decided[j]:
            n_cand = _candidates(
                j, best, at, order, ranked, per_rank, cand_rows, cand_bounds, n_cand, limit
            )
            first, n_heads = member_sources[j], 0
            for s in range(first, member_sources[j + 1]):
                n_heads = _add_head(walk, n_heads, -1, bounds[source[s]], head_end[s], left[s])
            if whole:
                _each_reasons(
                    rows, values, walk, n_heads, blocked, at, key, label[first:], n_labels
                )
            else:
                _merged_reasons(
                    rows,
                    values,
                    walk,
                    n_heads,
                    blocked,
                    at,
                    key,
                    label[first:],
                    n_labels,
                    n_cand - cand_bounds[j],
                )
            for h in range(n_heads):
                in_head[first + h] = walk[h, 3]
            floor = NO_KEY
            for s in range(first, member_sources[j + 1]):
                if left[s]:
                    floor = min(floor, in_head[s] + 1)
            for c in range(cand_bounds[j], n_cand):
                for k in range(2):
                    q = column[member[j], k]
                    cand_affinity[c, k] = affinity[q, skill_row[cand_rows[c]]] if q >= 0 else 0.0
                cand_key[c] = key[cand_rows[c]]
                if cand_key[c] // n_labels >= floor:
                    unsettled[j] = True
            for c in range(cand_bounds[j], n_cand):
                at[cand_rows[c]] = -1
                key[cand_rows[c]] = NO_KEY
        cand_bounds[j + 1] = n_cand
        for t in range(n_touched):
            best[touched[t]] = NO_RANK
        for d in range(dis_bounds[j], dis_bounds[j + 1]):
            blocked[dismissed[d]] = retired[dismissed[d]]
    return (
        decided,
        cand_bounds,
        cand_rows[:n_cand],
        cand_key[:n_cand],
        cand_affinity[:n_cand],
        unsettled,
        in_head,
        left,
    )


@numba.njit(cache=True, nogil=True)
def _head_end(values, lo, hi, need):
    """Where the head of list lo:hi ends: its first `need` entries and any tied with the
    last of them (a head never splits equal scores)."""
    if hi - lo <= need:
        return hi
    end = lo + need
    while end < hi and values[end] == values[end - 1]:
        end += 1
    return end


@numba.njit(cache=True, nogil=True)
def _merged_walk(
    rows, values, head_rows, head_values, walk, n_heads, blocked, best, touched, limit
):
    """A member's heads walked tied group by tied group in rank order (a live, undismissed
    entry ranks at its group's start among the head's first `limit` of them), until the
    groups left cannot change the `limit` best; returns (decided, touched courses).

    `walk[h]` is head h: (affinity kind, or -1 for `rows`/`values`; next entry; end;
    live entries so far; whether courses were left out past its end). A head that left
    courses out ranks them from its count + 1 on: once that is the lowest rank to come,
    the member is decided only if `limit` courses rank better."""
    n_touched = 0
    last = 0  # the rank of the last group walked
    while True:
        pick, rank = _next_head(walk, n_heads, limit, True)
        if pick < 0 or (n_touched >= limit and rank > last):
            return True, n_touched
        kind, at, end, pos = walk[pick, 0], walk[pick, 1], walk[pick, 2], walk[pick, 3]
        if at == end:  # a head that left courses out comes next
            ahead = 0
            for t in range(n_touched):
                ahead += best[touched[t]] < rank
            return ahead >= limit, n_touched
        if kind < 0:
            at, pos, n_touched = _walk_group(
                rows, values, at, end, blocked, best, touched, n_touched, pos, limit
            )
        else:
            at, pos, n_touched = _walk_group(
                head_rows[kind],
                head_values[kind],
                at,
                end,
                blocked,
                best,
                touched,
                n_touched,
                pos,
                limit,
            )
        walk[pick, 1], walk[pick, 3] = at, pos
        last = rank


@numba.njit(cache=True, nogil=True)
def _each_walk(rows, values, head_rows, head_values, walk, n_heads, blocked, best, touched, limit):
    """`_merged_walk` where no head left courses out: every head is read to its end, and a
    course's best rank is the least of its heads' whatever order they are read in, so each
    head is walked on its own (no search for the best next group among the heads)."""
    n_touched = 0
    for h in range(n_heads):
        kind, at, end, pos = walk[h, 0], walk[h, 1], walk[h, 2], walk[h, 3]
        head_r = rows if kind < 0 else head_rows[kind]
        head_v = values if kind < 0 else head_values[kind]
        while at < end:
            at, pos, n_touched = _walk_group(
                head_r, head_v, at, end, blocked, best, touched, n_touched, pos, limit
            )
        walk[h, 1], walk[h, 3] = at, pos
    return True, n_touched


@numba.njit(cache=True, nogil=True)
def _next_head(walk, n_heads, limit, past_end):
    """(head, rank) of the head whose next group ranks best (its count + 1; ties: the
    first head) among those counted below `limit` with entries left or, `past_end`,
    courses left out past their end; (-1, NO_RANK) when none."""
    pick, rank = -1, NO_RANK
    for h in range(n_heads):
        pos = walk[h, 3]
        more = walk[h, 1] < walk[h, 2] or (past_end and walk[h, 4])
        if pos < limit and more and pos + 1 < rank:
            pick, rank = h, pos + 1
    return pick, rank


@numba.njit(cache=True, nogil=True)
def _add_head(walk, n_heads, kind, at, end, more):
    """Head `n_heads` of `_merged_walk`, its count at 0; returns the heads' count."""
    walk[n_heads, 0], walk[n_heads, 1], walk[n_heads, 2] = kind, at, end
    walk[n_heads, 3], walk[n_heads, 4] = 0, more
    return n_heads + 1


@numba.njit(cache=True, nogil=True)
def _walk_group(rows, values, at, end, blocked, best, touched, n_touched, pos, limit):
    """The live, undismissed entries of the tied group at entry `at` offer its rank (pos +
    1) up to the head's `limit`-th; returns (the next group's entry, the head's count,
    touched courses). Branch-free where the outcome is data-dependent: a mispredicted
    branch costs more than the store."""
    v, rank = values[at], pos + 1
    while at < end and values[at] == v:
        r = rows[at]
        at += 1
        if blocked[r]:
            continue
        if pos >= limit:  # none of the rest nominates
            return end, pos, n_touched
        b = best[r]
        touched[n_touched] = r
        n_touched += b == NO_RANK
        best[r] = min(b, rank)
        pos += 1
    return at, pos, n_touched


@numba.njit(cache=True, nogil=True)
def _affinity_head(values, skill_row, live, retired, need, positive, head_rows, head_values):
    """The head of a score vector's ranked list (course r scores values[skill_row[r]];
    `live[u]` courses of skill row u are live) into the scratch arrays: its first `need`
    positive live courses and their ties, score descending, row ascending among ties;
    returns (size, whether courses were left out). Few distinct scores (cosines of a few
    skills) are ranked by counting, per skill row, then the courses placed in one pass;
    more by a partition and a stable sort."""
    # distinct scores of the skill rows by a small open-addressing table (the lookup
    # almost always hits on its first slot, so the loop has no data-dependent branch);
    # scores not positive look up -1, which ranks last and holds no course
    table = np.full(_SLOTS, np.nan)  # nan: an empty slot (equal to no score)
    slot_level = np.empty(_SLOTS, np.int64)
    row_level = np.empty(len(values), np.int64)
    distinct = np.empty(_DISTINCT + 1)
    d = 0
    for u in range(len(values)):
        v = values[u] if values[u] > 0.0 else -1.0
        h = int(v * _SPREAD) & (_SLOTS - 1)
        while table[h] == table[h] and table[h] != v:
            h = (h + 1) & (_SLOTS - 1)
        if table[h] != table[h]:
            if d > _DISTINCT:  # too many: the sorted way
                h = 0
            else:
                table[h] = v
                slot_level[h] = d
                distinct[d] = v
            d += 1
        row_level[u] = slot_level[h]
    if d > _DISTINCT + 1:
        size = 0
        for r in range(len(skill_row)):
            positive[size] = r
            size += (values[skill_row[r]] > 0.0) & (not retired[r])
        head = _sorted_head(values, skill_row, positive, size, need, head_rows, head_values)
        return head, size > need
    order = np.argsort(-distinct[:d])  # levels best first (distinct: no ties)
    place = np.zeros(d + 1, np.int64)
    rank = np.empty(d, np.int64)
    for t in range(d):
        rank[order[t]] = t
    for u in range(len(values)):
        place[rank[row_level[u]] + 1] += live[u] if values[u] > 0.0 else 0
    size = place.sum()
    left = size > need
    kept = d
    if left:
        above, kept = 0, 0
        while above < need:
            above += place[kept + 1]
            kept += 1
    for t in range(d):
        place[t + 1] += place[t]
    for r in range(len(skill_row)):
        u = skill_row[r]
        t = rank[row_level[u]]
        if t < kept and values[u] > 0.0 and not retired[r]:
            head_rows[place[t]] = r
            head_values[place[t]] = values[u]
            place[t] += 1
    return place[kept - 1] if kept else 0, left


@numba.njit(cache=True, nogil=True)
def _sorted_head(values, skill_row, positive, size, need, head_rows, head_values):
    """`_affinity_head` for many distinct scores; returns the size."""
    if size > need:
        scores = np.empty(size)
        for i in range(size):
            scores[i] = -values[skill_row[positive[i]]]
        threshold = -np.partition(scores, need - 1)[need - 1]
        kept = 0
        for i in range(size):
            if values[skill_row[positive[i]]] >= threshold:
                positive[kept] = positive[i]
                kept += 1
        size = kept
    scores = np.empty(size)
    for i in range(size):
        scores[i] = -values[skill_row[positive[i]]]
    order = np.argsort(scores, kind="mergesort")  # stable: rows stay ascending among ties
    for i in range(size):
        head_rows[i] = positive[order[i]]
        head_values[i] = values[skill_row[head_rows[i]]]
    return size


@numba.njit(cache=True, nogil=True)
def _candidates(j, best, at, order, ranked, per_rank, cand_rows, cand_bounds, n_cand, limit):
    """Member j's `limit` best-ranked courses, ties in row order, appended to the candidate
    arrays; returns the new count. The ranked rows are picked out in row order by a
    branch-free filter (most rows are unranked), then counting-sorted by rank."""
    size = 0
    for r in range(len(best)):
        order[size] = r
        size += best[r] <= limit
    per_rank[:] = 0
    for q in range(size):
        per_rank[best[order[q]]] += 1
    total = 0
    for k in range(len(per_rank)):
        count = per_rank[k]
        per_rank[k] = total
        total += count
    for q in range(size):
        b = best[order[q]]
        ranked[per_rank[b]] = order[q]
        per_rank[b] += 1
    start = cand_bounds[j]
    for q in range(min(size, limit)):
        cand_rows[start + q] = ranked[q]
        at[ranked[q]] = q
    return start + min(size, limit)


@numba.njit(cache=True, nogil=True)
def _merged_reasons(rows, values, walk, n_heads, blocked, at, key, label, n_labels, n_cand):
    """Each candidate's rank among the candidates of each label head h (equal scores share
    the better rank) offered as its reason key, the heads (`walk`, as in `_merged_walk`;
    head h is label source h) merged in rank order, tied group by tied group, until every
    candidate has its key and the groups left rank worse; each head's count
    (`walk[h, 3]`) is then the candidates ahead of its next group, which ranks worse
    than any key."""
    keyed = 0
    last = 0  # the rank of the last group walked
    while True:
        pick, rank = _next_head(walk, n_heads, NO_RANK, False)
        if pick < 0 or (keyed >= n_cand and rank > last):
            return
        walk[pick, 1], walk[pick, 3], new = _reason_group(
            rows,
            values,
            walk[pick, 1],
            walk[pick, 2],
            walk[pick, 3],
            blocked,
            at,
            key,
            rank * n_labels + label[pick],
        )
        keyed += new
        last = rank


@numba.njit(cache=True, nogil=True)
def _each_reasons(rows, values, walk, n_heads, blocked, at, key, label, n_labels):
    """`_merged_reasons` where every head is read to its end: a key is the least offer of
    the heads whatever order they are read in, so each head is walked on its own."""
    for h in range(n_heads):
        e, end, ahead = walk[h, 1], walk[h, 2], walk[h, 3]
        while e < end:
            offer = (ahead + 1) * n_labels + label[h]
            e, ahead, _ = _reason_group(rows, values, e, end, ahead, blocked, at, key, offer)
        walk[h, 1], walk[h, 3] = e, ahead


@numba.njit(cache=True, nogil=True)
def _reason_group(rows, values, e, end, ahead, blocked, at, key, offer):
    """The tied group at entry `e` offers its candidates `offer` as their reason key;
    returns (the next group's entry, candidates ahead of it, candidates keyed first)."""
    v, new = values[e], 0
    while e < end and values[e] == v:
        r = rows[e]
        e += 1
        if blocked[r]:
            continue
        candidate = at[r] >= 0
        new += candidate & (key[r] == NO_KEY)
        key[r] = min(key[r], offer if candidate else NO_KEY)
        ahead += candidate
    return e, ahead, new


@numba.njit(cache=True, nogil=True)
def rank_in_full(values, keys, label, n_labels):
    """Lower each candidate's reason key to its rank among the candidates by `values`
    in a label source (equal scores share the better rank; 0 and below: not listed),
    for a source whose head could not tell."""
    listed = np.flatnonzero(values > 0.0)
    order = listed[np.argsort(-values[listed])]
    group = 0
    for t in range(len(order)):
        if t and values[order[t]] != values[order[t - 1]]:
            group = t
        keys[order[t]] = min(keys[order[t]], (group + 1) * n_labels + label)
