"""A small authoritative answer model (RFC 1034 §4.3.2, no wildcards or
delegations below the apex), written to answer the way knotd does.

It is the reference of test_replay.py, where no knotd runs, and it is
itself checked against knotd by test_differential.py (test_oracle_matches_knot)
so that it cannot drift from the real thing.

Behaviour it encodes, as seen in knotd 3.2 except where differences.md
says levee differs:
- name in no served zone: REFUSED, AA=0, no records;
- CNAMEs followed inside the same zone only; a chain ending outside stops
  at the last CNAME (NOERROR); ending at a missing name: NXDOMAIN with the
  chain in the answer;
- NODATA and NXDOMAIN: the zone's SOA in authority with TTL
  min(SOA TTL, SOA MINIMUM) (RFC 2308 §5);
- additional: A and AAAA of in-zone MX, NS and SRV targets;
- no NS in authority on positive answers;
- RD and CD copied from the query (RFC 4035 §3.1.6; knotd clears CD, see
  differences.md), no EDNS options in the OPT (knotd adds EDE to REFUSED);
- size limit 512 without EDNS, else min(max(client, 512), udp_max); over the
  limit without the additional section: TC=1 with question and OPT only;
  over it only because of the additional section: the additional RRsets
  that fit are kept, in order, the others left out, TC=0.
"""
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

A, AAAA, CNAME, MX, NS, SOA, SRV = (dns.rdatatype.from_text(t) for t in
                                     ("A", "AAAA", "CNAME", "MX", "NS", "SOA", "SRV"))


class Oracle:
    def __init__(self, zones, udp_max=1232):
        """zones: {origin: zone file path}."""
        self.udp_max = udp_max
        self.zones = {}
        for origin, path in zones.items():
            o = dns.name.from_text(origin)
            z = dns.zone.from_file(path, origin=o, relativize=False)
            names = set(z.nodes)
            ents = set()
            for n in names:
                p = n.parent() if n != o else None
                while p is not None and p != o and p not in names:
                    ents.add(p)
                    p = p.parent()
            self.zones[o] = (z, ents)

    def _zone_for(self, name):
        best = None
        for o in self.zones:
            if name.is_subdomain(o) and (best is None or len(o) > len(best)):
                best = o
        return best

    def answer(self, query):
        """Expected response wire for query (a dnsq.Query)."""
        qname = dns.name.from_text(query.qname)
        q = dns.message.Message(id=query.id)
        q.flags = query.flags()
        q.question.append(dns.rrset.RRset(qname, query.qclass, query.qtype))
        r = dns.message.Message(id=query.id)
        r.flags = dns.flags.QR | (query.flags() & (dns.flags.RD | dns.flags.CD))
        r.question = [dns.rrset.RRset(qname, query.qclass, query.qtype)]
        if query.edns:
            r.use_edns(0, dns.flags.DO if query.edns.do else 0, self.udp_max)
        origin = self._zone_for(qname) if query.qclass == dns.rdataclass.IN else None
        if origin is None:
            r.set_rcode(dns.rcode.REFUSED)
            return self._render(r, query)
        z, ents = self.zones[origin]
        r.flags |= dns.flags.AA
        name = qname
        rcode = dns.rcode.NOERROR
        negative = False
        for _ in range(16):
            node = z.get_node(name)
            if node is None:
                if name in ents:
                    negative = True
                else:
                    rcode, negative = dns.rcode.NXDOMAIN, True
                break
            rds = node.get_rdataset(dns.rdataclass.IN, query.qtype)
            if rds is not None:
                r.answer.append(self._rrset(name, rds))
                break
            cn = node.get_rdataset(dns.rdataclass.IN, CNAME)
            if cn is None:
                negative = True
                break
            r.answer.append(self._rrset(name, cn))
            target = cn[0].target
            if not target.is_subdomain(origin):
                break
            name = target
        if negative:
            soa = z.get_rdataset(origin, SOA)
            rr = self._rrset(origin, soa)
            rr.ttl = min(soa.ttl, soa[0].minimum)
            r.authority.append(rr)
        r.set_rcode(rcode)
        for rr in list(r.answer):
            if rr.rdtype in (MX, NS, SRV):
                for rd in rr:
                    t = rd.exchange if rr.rdtype == MX else rd.target
                    if not t.is_subdomain(origin):
                        continue
                    for typ in (A, AAAA):
                        rds = z.get_rdataset(t, typ)
                        if rds is not None:
                            k = self._rrset(t, rds)
                            if k not in r.additional:
                                r.additional.append(k)
        return self._render(r, query)

    @staticmethod
    def _rrset(name, rds):
        rr = dns.rrset.RRset(name, rds.rdclass, rds.rdtype)
        rr.update(rds)
        rr.ttl = rds.ttl
        return rr

    def limit(self, query):
        if not query.edns:
            return 512
        return min(max(query.edns.payload, 512), self.udp_max)

    def _render(self, r, query):
        limit = self.limit(query)
        wire = r.to_wire(max_size=65535)
        if len(wire) <= limit:
            return wire
        extra, r.additional = r.additional, []
        wire = r.to_wire(max_size=65535)
        if len(wire) <= limit:
            # as many additional RRsets as still fit, in order, skipping
            # those that do not (what Knot does)
            for rr in extra:
                r.additional.append(rr)
                w = r.to_wire(max_size=65535)
                if len(w) <= limit:
                    wire = w
                else:
                    r.additional.pop()
            return wire
        r.answer, r.authority = [], []
        r.flags |= dns.flags.TC
        return r.to_wire(max_size=65535)
