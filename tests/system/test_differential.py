"""The same zones served by knotd (UDP on loopback) and by levee (pcap
replay), the same queries to both, the responses compared: rcode, flags,
every section as RRsets with exact TTLs, the OPT. Differences pass only if
differences.md lists them.

test_oracle_matches_knot needs no levee: it keeps lvtest/oracle.py (the
reference of test_replay.py) honest against knotd.
"""
from lvtest import compare, gen, knot, levee, oracle, replay
from test_replay import replay_queries


def ask_knot(k, queries):
    """knotd's answer to each query, even ones over ::1, odd over 127.0.0.1."""
    out = {}
    for host, parity in (("127.0.0.1", 1), ("::1", 0)):
        items = [(i, q.wire(id=i & 0xFFFF)) for i, q in enumerate(queries)
                 if i % 2 == parity]
        out.update(knot.query_many(items, host, k.port))
    return [out[i] for i in range(len(queries))]


def _report(differences):
    print("differences.md entries used:",
          {k: v for k, v in differences.used.items()})


def test_oracle_matches_knot(knotd, zones, differences):
    queries = gen.differential_queries(zones) + replay_queries()
    answers = ask_knot(knotd, queries)
    orc = oracle.Oracle(zones, udp_max=1232)
    bad = []
    for q, a in zip(queries, answers):
        m = compare.compare(orc.answer(q), a, q, differences)
        if m:
            bad.append(f"{q.describe()}: {m}")
    _report(differences)
    assert not bad, f"{len(bad)} of {len(queries)} differ:\n" + "\n".join(bad[:30])


def test_levee_matches_knot(levee_bin, knotd, zones, differences, workdir):
    queries = gen.differential_queries(zones)
    knot_answers = ask_knot(knotd, queries)
    sent = replay.frames_for(queries)
    r = levee.run(workdir, sent, zones)
    assert r.returncode == 0, r.explain()
    problems, pairs = replay.check_answers(
        r, queries, sent, lambda i: knot_answers[i], differences, 1232)
    _report(differences)
    print(f"{len(queries)} queries, {len(pairs)} answers, {len(problems)} problems")
    assert not problems, "\n".join(problems) + "\n" + r.explain()
