"""Checks of the harness itself (no levee needed): the stats parser, and
the list of counters levee leaves out when they are zero, against levee's
sources.
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
    texts = _read_all()
    drops = rcodes = None
    for path, text in texts.items():
        m = re.search(r"#define LV_DROP_REASONS\(X\)(.*?)\n\n", text, re.S)
        if m:
            drops = tuple(n.lower() for n in re.findall(r"X\((\w+),", m.group(1)))
        m = re.search(r"rcode_names\[[^\]]*\]\s*=\s*\{(.*?)\};", text, re.S)
        if m:
            rcodes = tuple(re.findall(r'"(\w+)"', m.group(1)))
    assert drops, "no #define LV_DROP_REASONS(X) in levee's sources"
    assert rcodes, "no rcode_names table in levee's sources"
    assert drops == levee.DROP_REASONS
    assert rcodes == levee.RCODE_NAMES
