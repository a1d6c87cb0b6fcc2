"""Scale: a zone levee has never seen (generated, seeded), 100,000 queries
replayed through levee in pcap mode, every answer compared with knotd's
answer to the same query (knotd is asked once per distinct query).
Zero wrong, zero missing.

LVTEST_SCALE_QUERIES and LVTEST_SCALE_NAMES shrink or grow it;
LVTEST_SEED changes the zone and the queries.
"""
import os
import time

from lvtest import gen, knot, levee, replay

ORIGIN = "scale.test."


def test_scale_vs_knot(levee_bin, knot_factory, workdir, differences):
    r = scale_run(knot_factory, workdir, differences,
                  int(os.environ.get("LVTEST_SCALE_QUERIES", "100000")),
                  int(os.environ.get("LVTEST_SCALE_NAMES", "2000")))
    assert r.stats["cache_evictions"] == 0


def test_small_cache_evicts_and_stays_right(levee_bin, knot_factory, workdir,
                                            differences):
    """--cache-memory 1M holds a few thousand answers: 15,000 distinct
    queries must evict, and every answer must still match knotd's."""
    r = scale_run(knot_factory, workdir, differences, 40000, 4000,
                  distinct=15000, extra=("--cache-memory", "1M"))
    assert r.stats["cache_evictions"] > 0, dict(r.stats)
    assert r.stats["cache_memory_bytes"] <= 1 << 20, dict(r.stats)


def scale_run(knot_factory, workdir, differences, n_queries, n_names,
              distinct=20000, extra=()):
    seed = int(os.environ.get("LVTEST_SEED", "20240601"))
    t0 = time.monotonic()
    text, names = gen.scale_zone(ORIGIN, n_names, seed)
    zfile = os.path.join(workdir, "scale.test.zone")
    with open(zfile, "w") as f:
        f.write(text)
    zones = {ORIGIN: zfile}
    queries = gen.scale_queries(ORIGIN, names, n_queries,
                                n_distinct=min(distinct, n_queries), seed=seed + 1)

    # knotd: once per distinct query (name case and ID aside)
    k = knot_factory(zones)
    distinct = {}
    for q in queries:
        distinct.setdefault(q.norm_key(), q)
    items = [(key, q.wire(id=0)) for key, q in distinct.items()]
    ref = knot.query_many(items, "127.0.0.1", k.port, window=128)
    t1 = time.monotonic()

    sent = replay.frames_for(queries)
    r = levee.run(workdir, sent, zones, timeout=150, extra=extra)
    t2 = time.monotonic()
    assert r.returncode == 0, r.explain()
    problems, pairs = replay.check_answers(
        r, queries, sent, lambda i: ref[queries[i].norm_key()], differences, 1232)
    t3 = time.monotonic()
    missing = len(queries) - len(pairs)
    wrong = sum(1 for p in problems if p.startswith("query "))
    print(f"\nscale: {len(names)} names, {len(queries)} queries, {len(distinct)} "
          f"distinct; answered {len(pairs)}, missing {missing}, problems "
          f"{len(problems)} (listed wrong {wrong}); knotd {t1 - t0:.1f}s, "
          f"levee {t2 - t1:.1f}s, compare {t3 - t2:.1f}s")
    print("levee stats:", dict(r.stats or {}))
    print("differences.md entries used:", differences.used)
    assert not problems, "\n".join(problems) + "\n" + r.explain()
    assert r.stats["tx"] == len(queries)
    return r
