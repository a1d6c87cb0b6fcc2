"""Compare DNS responses field by field, honouring differences.md.

normalize() turns a response (wire bytes) into plain comparable data:
rcode (with the extended bits), opcode, flags, the question, and each
section as a set of RRsets (owner lowercased, type, class, TTL, the set of
rdatas in canonical form, so names inside rdata compare case-insensitively
while TXT keeps its case), and the OPT (presence, payload, version, DO,
options).

diff() lists every field where two normalized responses differ. EDNS
options are compared one by one: an option only levee's response has is
field `opt.option.extra.NAME`, one only the reference has
`opt.option.missing.NAME`, where NAME is `ede-INFOCODE` for Extended DNS
Error (RFC 8914) and the option code otherwise; so a listed difference
allows exactly one option, never the OPT's options wholesale.
Differences.load() reads the fenced ```json block of differences.md;
Differences.filter() drops the mismatches that a listed difference allows
for this query and these responses, and remembers which entries were used.
"""
import collections
import fnmatch
import json
import os
import re

import dns.flags
import dns.message
import dns.wire
import struct
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype

FLAG_NAMES = ("qr", "aa", "tc", "rd", "ra", "ad", "cd")
_FLAG_BITS = {"qr": 0x8000, "aa": 0x0400, "tc": 0x0200, "rd": 0x0100,
              "ra": 0x0080, "ad": 0x0020, "cd": 0x0010}
SECTIONS = ("answer", "authority", "additional")
DIFFERENCES_MD = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "differences.md")


def _rrset_key(rrset):
    return (rrset.name.to_text().lower(), rrset.rdtype, rrset.rdclass, rrset.ttl,
            frozenset(rd.to_digestable(dns.name.root) for rd in rrset))


def rrset_text(key):
    name, rdtype, rdclass, ttl, rdatas = key
    return f"{name} {ttl} {dns.rdatatype.to_text(rdtype)} x{len(rdatas)}"


class Normalized:
    __slots__ = ("id", "rcode", "opcode", "flags", "question", "answer",
                 "authority", "additional", "opt", "counts")

    def describe(self):
        fl = " ".join(f for f in FLAG_NAMES if f in self.flags)
        return (f"{dns.rcode.to_text(self.rcode)} [{fl}] an={len(self.answer)} "
                f"ns={len(self.authority)} ar={len(self.additional)} opt={self.opt}")


def _strip_tsig(wire):
    """(wire without its final TSIG record, that record's key) or (wire, None).

    dnspython insists on validating a TSIG, and an answer to a query signed
    with an unknown key carries one it cannot validate (BADKEY). The TSIG is
    the last record (RFC 8945 §5.1); it is compared as a synthetic RRset
    (owner, type, class, ttl, ("error=N",))."""
    p = dns.wire.Parser(wire)
    qd, an, ns, ar = struct.unpack("!HHHH", wire[4:12])
    p.seek(12)
    for _ in range(qd):
        p.get_name()
        p.get_struct("!HH")
    start = None
    for _ in range(an + ns + ar):
        start = p.current
        owner = p.get_name()
        rdtype, rdclass, ttl, rdlen = p.get_struct("!HHIH")
        rd_start = p.current
        p.seek(rd_start + rdlen)
    if start is None or rdtype != dns.rdatatype.TSIG:
        return wire, None
    q = dns.wire.Parser(wire)
    q.seek(rd_start)
    q.get_name()  # algorithm
    q.get_struct("!HIH")  # time signed, fudge
    mac_len = q.get_struct("!H")[0]
    q.seek(q.current + mac_len + 2)  # MAC, original ID
    error = q.get_struct("!H")[0]
    head = wire[:10] + struct.pack("!H", ar - 1)
    key = (owner.to_text().lower(), rdtype, rdclass, ttl, (f"error={error}",))
    return head + wire[12:start], key


def normalize(wire):
    """Parse a response. Raises dns.exception.DNSException on bad wire."""
    wire, tsig = _strip_tsig(wire)
    m = dns.message.from_wire(wire, ignore_trailing=False)
    n = Normalized()
    n.id = m.id
    n.rcode = m.rcode()
    n.opcode = m.opcode()
    n.flags = frozenset(f for f in FLAG_NAMES if m.flags & _FLAG_BITS[f])
    n.question = tuple((q.name.to_text().lower(), q.rdtype, q.rdclass)
                       for q in m.question)
    n.answer = frozenset(_rrset_key(r) for r in m.answer)
    n.authority = frozenset(_rrset_key(r) for r in m.authority)
    n.additional = frozenset(_rrset_key(r) for r in m.additional)
    if tsig is not None:
        n.additional |= {tsig}
    if m.edns >= 0:
        n.opt = {"payload": m.payload, "version": m.edns,
                 "do": bool(m.ednsflags & dns.flags.DO),
                 "options": tuple(sorted((o.otype, o.to_wire()) for o in m.options))}
    else:
        n.opt = None
    # section counts as dnspython sees them: the OPT is not in additional
    n.counts = tuple(len(s) for s in (m.question, m.answer, m.authority, m.additional))
    return n


def diff(got, ref):
    """[(field, text)] for every field where got and ref differ."""
    out = []
    if got.rcode != ref.rcode:
        out.append(("rcode", f"{dns.rcode.to_text(got.rcode)} != "
                             f"{dns.rcode.to_text(ref.rcode)}"))
    if got.opcode != ref.opcode:
        out.append(("opcode", f"{got.opcode} != {ref.opcode}"))
    for f in FLAG_NAMES:
        if (f in got.flags) != (f in ref.flags):
            out.append((f"flag.{f}", f"{f}={int(f in got.flags)} != {int(f in ref.flags)}"))
    if got.question != ref.question:
        out.append(("question", f"{got.question} != {ref.question}"))
    for s in SECTIONS:
        a, b = getattr(got, s), getattr(ref, s)
        if a != b:
            extra = sorted(rrset_text(k) for k in a - b)
            missing = sorted(rrset_text(k) for k in b - a)
            out.append((s, f"extra {extra} missing {missing}"))
    if (got.opt is None) != (ref.opt is None):
        out.append(("opt.present", f"{got.opt is not None} != {ref.opt is not None}"))
    elif got.opt is not None:
        for k in ("payload", "version", "do"):
            if got.opt[k] != ref.opt[k]:
                out.append((f"opt.{k}", f"{got.opt[k]!r} != {ref.opt[k]!r}"))
        a = collections.Counter(got.opt["options"])
        b = collections.Counter(ref.opt["options"])
        for side, opts in (("extra", a - b), ("missing", b - a)):
            for code, data in sorted(opts.elements()):
                name = option_name(code, data)
                out.append((f"opt.option.{side}.{name}",
                            f"option {name} ({data.hex()}) "
                            f"{'only in levee' if side == 'extra' else 'only in the reference'}"))
    return out


def option_name(code, data):
    """`ede-INFOCODE` for an Extended DNS Error (option 15, RFC 8914), else
    the option code."""
    if code == 15 and len(data) >= 2:
        return f"ede-{struct.unpack('!H', data[:2])[0]}"
    return str(code)


class Differences:
    """The machine-readable part of differences.md."""

    def __init__(self, entries):
        self.entries = entries
        self.used = {e["id"]: 0 for e in entries}
        for e in entries:
            for k in ("id", "fields", "when", "reason"):
                if k not in e:
                    raise ValueError(f"differences.md: entry {e.get('id')} lacks {k!r}")

    @classmethod
    def load(cls, path=DIFFERENCES_MD):
        with open(path) as f:
            text = f.read()
        blocks = re.findall(r"^```json\n(.*?)^```", text, re.S | re.M)
        if len(blocks) != 1:
            raise ValueError(f"{path}: expected exactly one ```json block, "
                             f"found {len(blocks)}")
        return cls(json.loads(blocks[0])["differences"])

    @classmethod
    def none(cls):
        return cls([])

    @staticmethod
    def _matches(when, query, got, ref):
        for k, v in when.items():
            if k == "tags_any":
                if not query.tags & set(v):
                    return False
            elif k == "qtype":
                if dns.rdatatype.to_text(query.qtype) not in v:
                    return False
            elif k == "opcode":
                if dns.opcode.to_text(query.opcode) not in v:
                    return False
            elif k == "edns":
                if bool(query.edns) != v:
                    return False
            elif k in ("levee", "reference"):
                r = got if k == "levee" else ref
                if r is None:
                    return False
                for fk, fv in v.items():
                    if fk == "rcode":
                        if dns.rcode.to_text(r.rcode) not in fv:
                            return False
                    elif fk in FLAG_NAMES:
                        if (fk in r.flags) != fv:
                            return False
                    else:
                        raise ValueError(f"differences.md: unknown response key {fk}")
            else:
                raise ValueError(f"differences.md: unknown condition {k}")
        return True

    def filter(self, mismatches, query, got, ref):
        """Mismatches not allowed by any entry (each allowing entry is counted)."""
        if not mismatches:
            return []
        left = list(mismatches)
        for e in self.entries:
            if not self._matches(e["when"], query, got, ref):
                continue
            keep = [m for m in left
                    if not any(fnmatch.fnmatchcase(m[0], pat) for pat in e["fields"])]
            if len(keep) != len(left):
                self.used[e["id"]] += 1
            left = keep
            if not left:
                break
        return left


def compare_presence(got_wire, ref_wire, query, differences):
    """Like compare(), where either side may have sent nothing (None):
    a one-sided answer is a mismatch of field `presence`."""
    if got_wire is None and ref_wire is None:
        return []
    if got_wire is None or ref_wire is None:
        got = normalize(got_wire) if got_wire is not None else None
        ref = normalize(ref_wire) if ref_wire is not None else None
        m = [("presence", f"levee {'answered' if got else 'silent'}, "
                          f"reference {'answered' if ref else 'silent'}")]
        return differences.filter(m, query, got, ref)
    return compare(got_wire, ref_wire, query, differences)


def compare(got_wire, ref_wire, query, differences):
    """Mismatches between levee's response and the reference's, after the
    allowed differences; [] when they agree."""
    got, ref = normalize(got_wire), normalize(ref_wire)
    return differences.filter(diff(got, ref), query, got, ref)
