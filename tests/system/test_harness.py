"""Checks of the harness itself (no levee needed): the stats parser, the
list of counters levee leaves out when they are zero (against levee's
sources), and that the differences listed in differences.md allow exactly
what they say (one EDNS option, CD one way) and nothing wider.
"""
import os
import re

import pytest

from lvtest import levee

STATS_BLOCK = """starting
stats:
rx 10
tx 9
tcp_open 0
drop_not_ip 1
rcode_noerror 9
cache_entries 4
"""


def _sources():
    """Every .c and .h file under the repository, build dirs left out
    (the lead may move files between folders: found by content)."""
    for root, dirs, files in os.walk(levee.REPO):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
        for f in files:
            if f.endswith((".c", ".h")):
                yield os.path.join(root, f)


def _read_all():
    out = {}
    for p in _sources():
        with open(p, errors="replace") as fh:
            out[p] = fh.read()
    return out


def test_missing_counter_fails_with_its_name():
    st = levee.parse_stats(STATS_BLOCK)
    assert st["rx"] == 10 and st["tx"] == 9 and st["cache_entries"] == 4
    # printed only when non-zero: absent means zero
    assert st["drop_tx_full"] == 0 and st["rcode_refused"] == 0
    assert st["drop_not_ip"] == 1
    for key in ("tcp_accepted", "notify_failed", "drop_no_such_reason",
                "rcode_nxdomian"):
        with pytest.raises(levee.MissingCounter, match=repr(key)):
            st[key]
        with pytest.raises(levee.MissingCounter, match=repr(key)):
            st.get(key, 0)


def test_sparse_counter_names_match_levee_source():
    """levee.DROP_REASONS and RCODE_NAMES are exactly the drop reasons of
    LV_DROP_REASONS and the rcode_names table that levee's stats printer
    leaves out when zero."""
    drops, rcodes = {}, {}
    for path, text in _read_all().items():
        m = re.search(r"#define LV_DROP_REASONS\(X\)(.*?)\n\n", text, re.S)
        if m:
            drops[path] = tuple(n.lower() for n in re.findall(r"X\((\w+),", m.group(1)))
        m = re.search(r"rcode_names\[[^\]]*\]\s*=\s*\{(.*?)\};", text, re.S)
        if m:
            rcodes[path] = tuple(re.findall(r'"(\w+)"', m.group(1)))
    assert len(drops) == 1, f"#define LV_DROP_REASONS(X) in {sorted(drops) or 'no file'}"
    assert len(rcodes) == 1, f"an rcode_names table in {sorted(rcodes) or 'no file'}"
    assert list(drops.values())[0] == levee.DROP_REASONS
    assert list(rcodes.values())[0] == levee.RCODE_NAMES


def _response(q, rcode, options=(), cd=False):
    import dns.edns
    import dns.flags
    import dns.message
    m = dns.message.from_wire(q.wire(id=7))
    r = dns.message.make_response(m)
    r.set_rcode(rcode)
    r.flags = (r.flags | dns.flags.CD) if cd else (r.flags & ~dns.flags.CD)
    r.use_edns(0, 0, 1232, options=list(options))
    return r.to_wire()


def test_edns_options_and_cd_compared_precisely():
    """differences.md allows knotd's EDE 20 on REFUSED and CD copied by
    levee, and nothing wider: another option, EDE 20 on another rcode or
    in levee's answer, or CD the other way round are mismatches."""
    import dns.edns
    import dns.rcode
    from lvtest import compare
    from lvtest.dnsq import Edns, Query
    differences = compare.Differences.load()   # its own use counts
    ede20 = dns.edns.EDEOption(dns.edns.EDECode.NOT_AUTHORITATIVE)
    cookie = dns.edns.GenericOption(10, b"\x01" * 8)
    q = Query("nothing.example.", "A", edns=Edns(1232))
    ok = compare.compare(_response(q, dns.rcode.REFUSED),
                         _response(q, dns.rcode.REFUSED, [ede20]), q, differences)
    assert ok == []
    cases = [
        # (levee, knotd, field that must remain)
        (_response(q, dns.rcode.REFUSED, [cookie]),
         _response(q, dns.rcode.REFUSED, [ede20]), "opt.option.extra.10"),
        (_response(q, dns.rcode.REFUSED, [ede20]),
         _response(q, dns.rcode.REFUSED), "opt.option.extra.ede-20"),
        (_response(q, dns.rcode.NXDOMAIN),
         _response(q, dns.rcode.NXDOMAIN, [ede20]), "opt.option.missing.ede-20"),
    ]
    qcd = Query("www.levee.test.", "A", cd=True, edns=Edns(1232), tags=("cd",))
    assert compare.compare(_response(qcd, 0, cd=True), _response(qcd, 0),
                           qcd, differences) == []
    cases.append((_response(qcd, 0), _response(qcd, 0, cd=True), "flag.cd"))
    q_nocd = Query("www.levee.test.", "A", edns=Edns(1232))
    cases.append((_response(q_nocd, 0, cd=True), _response(q_nocd, 0), "flag.cd"))
    for i, (got, ref, field) in enumerate(cases):
        qq = q if i < 3 else (qcd if i == 3 else q_nocd)
        left = compare.compare(got, ref, qq, differences)
        assert [f for f, _ in left] == [field], (i, left)
