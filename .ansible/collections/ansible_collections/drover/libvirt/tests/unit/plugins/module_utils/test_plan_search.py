# -*- coding: utf-8 -*-
"""The destination indexes answer exactly what a walk over every host would."""

from __future__ import annotations

import random

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _plan_search as search


def _walk(strategy, free, vfree, usable, limits, m, v, excluded, want):
    """Every host, sorted the strategy's way, the first `want` that fit."""
    fits = [i for i in range(len(free)) if free[i] >= m and vfree[i] >= v and i not in excluded]
    if strategy == "first_fit":
        order = sorted(fits)
    elif strategy == "best_fit":
        order = sorted(fits, key=lambda i: (free[i], i))
    else:
        order = sorted(fits, key=lambda i: search.use_key(free[i], usable[i], vfree[i], limits[i], i, len(free)))
    return order[:want]


def test_columns_keep_the_smallest_and_the_most_frequent_needs():
    assert search.frequent([4, 2, 2, 8]) == [2, 4, 8]
    assert search.frequent([]) == [1] and search.frequent([], default=0) == [0]
    demands = [1] * 3 + [2] * 50 + [4] * 40 + list(range(5, 30))
    columns = search.frequent(demands, limit=4)
    assert columns[:3] == [1, 2, 4] and len(columns) == 4


@pytest.mark.parametrize("strategy, misses", [(s, search.HEAP_MISSES) for s in search.STRATEGIES] + [("spread", 0)])
def test_searches_match_a_walk_over_every_host(strategy, misses, monkeypatch):
    """misses 0: the spread heap hands every search that meets an unsuitable host to the tree."""
    monkeypatch.setattr(search, "HEAP_MISSES", misses)
    rnd = random.Random(strategy + str(misses))
    for _fleet in range(30):
        count = rnd.randint(1, 70)
        usable = [rnd.choice((64, 128, 512)) for _i in range(count)]
        limits = [rnd.choice((8, 16, 64)) for _i in range(count)]
        free = [rnd.randint(-4, u) for u in usable]
        vfree = [rnd.randint(-1, lim) for lim in limits]
        demands = [(rnd.randint(0, 40), rnd.choice((1, 1, 2, 3, 4, 8, 12))) for _u in range(60)]
        columns = search.frequent([v for _m, v in demands], limit=4)
        sizes = search.frequent([m for m, _v in demands], limit=3, default=0)
        if strategy == "first_fit":
            index = search.FirstFit(free, vfree, columns)
        elif strategy == "best_fit":
            index = search.BestFit(free, vfree, columns)
        else:
            index = search.Spread(free, vfree, usable, limits, columns, sizes)
        for m, v in demands:
            excluded = set(rnd.sample(range(count), rnd.randint(0, min(3, count))))
            want = rnd.choice((1, 4))
            found = index.search(m, v, excluded, want)
            assert found == _walk(strategy, free, vfree, usable, limits, m, v, excluded, want)
            if found:
                free[found[0]] -= m
                vfree[found[0]] -= v
                index.changed(found[0])


def test_definitions_go_by_key_and_skip_excluded_hosts():
    keys = [3, 1, 2, 0]
    index = search.Definitions(lambda i: keys[i], 4)
    assert index.search(0, 0, {3}, 2) == [1, 2]
    keys[1] = 9
    index.changed(1)
    assert index.search(0, 0, set(), 4) == [3, 2, 0, 1]
