package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/tenement/ten/runtime/router"
)

// clientAddr is the address failed authentications are counted against.
// It is the connection's peer, unless the peer is one of trusted (the
// reverse proxy in front): then it is the nearest X-Forwarded-For hop that
// is not a trusted proxy, read from the right, since every proxy appends
// the address it saw and only the entries our own proxies wrote can be
// believed. Behind Caddy or nginx without trusted_proxies, every client is
// the proxy's address.
func clientAddr(r *http.Request, trusted router.TrustedProxies) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !trusted.Contains(peer) {
		return host
	}
	hops := r.Header.Values("X-Forwarded-For")
	client := host
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := parseHop(parts[j])
			if !ok {
				// Not written by a proxy of ours: stop at the last hop
				// we could believe.
				return client
			}
			client = a.String()
			if !trusted.Contains(a) {
				return client
			}
		}
	}
	return client
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
