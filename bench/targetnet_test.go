package bench

import (
	"net/netip"
	"testing"
)

// TestVethAddrs checks that every process id gets a link-local /30 of its
// own, host address first, away from 169.254.0.0/24 and 169.254.255.0/24.
func TestVethAddrs(t *testing.T) {
	seen := map[string]int{}
	for pid := range 250 * 64 {
		host, target := vethAddrs(pid)
		hp, tp := netip.MustParseAddr(host), netip.MustParseAddr(target)
		pfx := netip.PrefixFrom(hp, 30).Masked()
		if !pfx.Contains(tp) || hp == pfx.Addr() || !hp.IsLinkLocalUnicast() || hp.As4()[2] == 0 || hp.As4()[2] == 255 {
			t.Fatalf("pid %d: %s and %s", pid, host, target)
		}
		if p, ok := seen[pfx.String()]; ok {
			t.Fatalf("pids %d and %d share %s", p, pid, pfx)
		}
		seen[pfx.String()] = pid
	}
}
