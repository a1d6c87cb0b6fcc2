"""Query-set and zone generators shared by the system suites (and by the
live suite to come): deterministic for a given seed.
"""
import random

import dns.name
import dns.rdatatype
import dns.zone

from .dnsq import Edns, Query

# The EDNS variations every generator cycles through.
EDNS_VARIANTS = (
    None,
    Edns(1232),
    Edns(1232, do=True),
    Edns(4096),
    Edns(512),
    Edns(256),          # below 512: treated as 512 (RFC 6891 §6.2.5)
    Edns(4096, do=True),
)
DIFF_TYPES = ("A", "AAAA", "MX", "TXT", "SRV", "NS", "SOA", "CNAME", "PTR", "CAA")


def mix_case(name, rng):
    """Random 0x20 case of name (letters only change)."""
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c.lower()
                   for c in name)


def zone_names(origin, path):
    """(names, empty non-terminals) of a zone file, as lowercase text."""
    o = dns.name.from_text(origin)
    z = dns.zone.from_file(path, origin=o, relativize=False)
    names = {n.to_text().lower() for n in z.nodes}
    ents = set()
    for n in z.nodes:
        p = n.parent() if n != o else None
        while p is not None and p != o and p.to_text().lower() not in names:
            ents.add(p.to_text().lower())
            p = p.parent()
    return sorted(names), sorted(ents)


def differential_queries(zones, seed=53, refused=("example.com.", "levee.test.example.")):
    """Every name x DIFF_TYPES, ENTs, nonexistent names below names and at
    the apex, case variants, EDNS and DO variations (cycled so each name
    meets several), CD and RD=0, and names in no zone."""
    rng = random.Random(seed)
    out = []
    k = 0

    def add(name, t, tags=(), **kw):
        nonlocal k
        e = kw.pop("edns", EDNS_VARIANTS[k % len(EDNS_VARIANTS)])
        out.append(Query(name, t, edns=e, tags=tags, **kw))
        k += 1

    for origin, path in zones.items():
        names, ents = zone_names(origin, path)
        for n in names:
            for t in DIFF_TYPES:
                add(n, t)
            add(mix_case(n, rng), "A", tags=("case",))
            add("nx-" + str(rng.randrange(10**6)) + "." + n, "A", tags=("nxdomain",))
        for n in ents:
            for t in ("A", "TXT", "NS"):
                add(n, t, tags=("ent",))
        add("nothing-here." + origin, "AAAA", tags=("nxdomain",))
        add(mix_case("Nothing-Here." + origin, rng), "MX", tags=("nxdomain", "case"))
        for e in EDNS_VARIANTS:
            add(mix_case(origin, rng), "SOA", edns=e)
        add(origin, "A", tags=("cd",), cd=True, edns=Edns(1232, do=True))
        add(origin, "A", tags=("nord",), rd=False)
    for n in refused:
        for e in (None, Edns(1232)):
            add(n, "A", tags=("refused",), edns=e)
    # every buffer size on the names whose additionals fit only in part
    for n in ("mx-many.other.test.", "other.test."):
        if any(n.endswith(o) for o in zones):
            for e in EDNS_VARIANTS + (Edns(600), Edns(700)):
                add(n, "MX", tags=("additional-fit",), edns=e)
    return out


# --- test_scale: a simple zone that levee has never seen -------------------

def scale_zone(origin, n_names, seed):
    """Zone text with n_names random owner names of A/AAAA/MX/TXT/CNAME.
    Returns (text, owner names as lowercase absolute text)."""
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    lines = [f"$ORIGIN {origin}", "$TTL 3600",
             f"@ IN SOA ns1.{origin} hostmaster.{origin} 1 7200 3600 1209600 600",
             f"@ IN NS ns1.{origin}", "ns1 IN A 198.51.100.1"]
    owners = set(["ns1"])
    while len(owners) < n_names:
        labels = ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 12)))
                  for _ in range(rng.choice((1, 1, 1, 2)))]
        owners.add(".".join(labels))
    owners = sorted(owners)
    plain = []
    for i, o in enumerate(owners):
        if o == "ns1":
            continue
        ttl = rng.choice((60, 300, 3600, 86400))
        if i % 10 == 0 and plain:
            tgt = rng.choice(plain + ["elsewhere.example.net."])
            lines.append(f"{o} {ttl} IN CNAME {tgt}")
            continue
        plain.append(o)
        for _ in range(rng.randint(1, 3)):
            lines.append(f"{o} {ttl} IN A 198.51.{rng.randrange(256)}.{rng.randrange(256)}")
        if rng.random() < 0.5:
            lines.append(f"{o} {ttl} IN AAAA 2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}")
        if rng.random() < 0.3:
            lines.append(f"{o} {ttl} IN MX {rng.randrange(50)} {rng.choice(plain)}")
        if rng.random() < 0.3:
            txt = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
            lines.append(f'{o} {ttl} IN TXT "{txt}"')
    names = [origin if o == "@" else f"{o}.{origin}" for o in owners]
    return "\n".join(lines) + "\n", names


def scale_queries(origin, names, n_queries, n_distinct, seed):
    """n_queries drawn from n_distinct base queries (existing names with
    their types, NODATA types, NXDOMAIN names) each sent with random case
    and an EDNS variant."""
    rng = random.Random(seed)
    types = ("A", "AAAA", "MX", "TXT", "CNAME", "SRV", "NS")
    base = []
    while len(base) < n_distinct:
        r = rng.random()
        if r < 0.8:
            n, tags = rng.choice(names), ()
        else:
            n, tags = f"nx{rng.randrange(10**6)}.{rng.choice(names)}", ("nxdomain",)
        base.append((n, rng.choice(types), EDNS_VARIANTS[rng.randrange(len(EDNS_VARIANTS))], tags))
    out = []
    for _ in range(n_queries):
        n, t, e, tags = base[rng.randrange(len(base))]
        out.append(Query(mix_case(n, rng), t, edns=e, tags=tags))
    return out
