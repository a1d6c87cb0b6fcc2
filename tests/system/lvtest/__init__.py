"""levee system-test helpers.

pcap      -- classic pcap reader/writer (struct only)
frames    -- Ethernet + IPv4/IPv6 + UDP build/parse, checksums
dnsq      -- DNS query description and wire builders (incl. malformed ones)
knot      -- throwaway knotd instance and a pipelined UDP client
levee     -- run the levee binary in pcap replay mode, parse its stats
compare   -- compare two DNS responses, honouring differences.md
gen       -- query-set and zone generators shared by the suites

Nothing here depends on how levee receives packets: the live (AF_PACKET)
suite can reuse dnsq, compare and gen and swap levee.py for its own runner.
"""
