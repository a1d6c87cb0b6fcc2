"""Glue for tests that replay queries through levee and check each answer.

frames_for() gives every query its own client (port, DNS ID) and alternates
IPv4 and IPv6; check_answers() matches responses to queries and checks each
one: the envelope (levee.check_envelope), the EDNS rules, TC answers, and
the content against a reference (oracle or knotd) through compare.py.
"""
import struct

import dns.rcode

from . import compare, frames, levee


def frames_for(queries, families=(4, 6), start=0):
    out = []
    for i, q in enumerate(queries):
        port, qid = levee.client_of(start + i)
        fam = families[i % len(families)]
        src = frames.CLIENT4 if fam == 4 else frames.CLIENT6
        out.append(frames.udp_frame(q.wire(id=qid), src=src, sport=port))
    return out


def check_edns(q, n, udp_max):
    """OPT present iff the query had one, version 0, DO echoed, payload =
    levee's size; TC answers carry the question and OPT only."""
    bad = []
    if q.edns is None:
        if n.opt is not None:
            bad.append("OPT in the answer to a query without one")
    elif n.opt is None:
        bad.append("no OPT in the answer to a query with one")
    else:
        if n.opt["version"] != 0:
            bad.append(f"OPT version {n.opt['version']}")
        if n.opt["do"] != q.edns.do:
            bad.append(f"DO {n.opt['do']} not echoed ({q.edns.do})")
        if n.opt["payload"] != udp_max:
            bad.append(f"OPT payload {n.opt['payload']} != --udp-max {udp_max}")
    if "tc" in n.flags:
        qd, an, ns, ar = n.counts
        # counts exclude the OPT (dnspython keeps it apart); its presence
        # was checked above
        if an or ns or ar:
            bad.append(f"TC answer with sections an={an} ns={ns} ar={ar}")
    return bad


def check_answers(run_, queries, sent, reference, differences, udp_max,
                  max_report=20):
    """reference(i) -> expected response wire for queries[i].
    Returns (problems, pairs) where problems lists text lines."""
    pairs, unmatched, dupes = levee.match(run_, sent)
    problems = []
    for raw, why in unmatched[:max_report]:
        problems.append(f"response matches no query: {why}")
    for i in dupes[:max_report]:
        problems.append(f"two responses to query {i} {queries[i]}")
    missing = [i for i in range(len(queries)) if i not in pairs]
    for i in missing[:max_report]:
        problems.append(f"no response to query {i} {queries[i]}")
    if len(missing) > max_report:
        problems.append(f"... {len(missing)} responses missing in all")
    memo = {}
    nbad = 0
    for i, r in sorted(pairs.items()):
        q = queries[i]
        bad = levee.check_envelope(sent[i], r)
        try:
            got = compare.normalize(r.payload)
        except Exception as e:  # noqa: BLE001 - any parse error is a finding
            bad.append(f"unparseable response: {e}")
            got = None
        if got is not None:
            bad += check_edns(q, got, udp_max)
            # Identical (query, response) pairs need one content check.
            mkey = (q.norm_key(), r.payload[2:12], _fold_question(r.payload))
            if mkey not in memo:
                ref = compare.normalize(reference(i))
                memo[mkey] = [f"{f}: {t}" for f, t in differences.filter(
                    compare.diff(got, ref), q, got, ref)]
            bad += memo[mkey]
        if bad:
            nbad += 1
            if nbad <= max_report:
                problems.append(f"query {i} {q.describe()}: " + "; ".join(bad))
    if nbad > max_report:
        problems.append(f"... {nbad} wrong responses in all")
    return problems, pairs


def _fold_question(d):
    """Response bytes after the header with the question name lowercased."""
    n = levee._question_len(d) or 0
    return d[12:12 + n].lower() + d[12 + n:]


def rcode_name(wire):
    return dns.rcode.to_text(compare.normalize(wire).rcode).lower()


def dns_id(raw_frame):
    return struct.unpack("!H", frames.parse(raw_frame).payload[:2])[0]
