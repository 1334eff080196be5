package router

import (
	"fmt"
	"net"
	"net/netip"
)

// TrustedProxies are the reverse proxies in front of ten ([settings]
// trusted_proxies): the only peers whose forwarding headers
// (X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Forwarded) are
// believed.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads trusted_proxies entries: IP addresses or CIDR
// prefixes ("127.0.0.1", "10.0.0.0/8", "::1").
func ParseTrustedProxies(entries []string) (TrustedProxies, error) {
	out := make(TrustedProxies, 0, len(entries))
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: %q is neither an IP address nor a CIDR prefix (e.g. 127.0.0.1 or 10.0.0.0/8)", e)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Contains reports whether a is one of the proxies.
func (t TrustedProxies) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Peer reports whether remoteAddr (an http.Request's RemoteAddr) is one of
// the proxies.
func (t TrustedProxies) Peer(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	return err == nil && t.Contains(a)
}
