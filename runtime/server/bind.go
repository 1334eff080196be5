package server

import "net"

// DefaultBind is the address `ten serve` listens on unless told otherwise:
// loopback, because ten is meant to sit behind Caddy or nginx, which
// terminate TLS. Tenement bound 0.0.0.0; exposing the management API and
// the tenants in clear text is now an explicit choice (--host 0.0.0.0).
const DefaultBind = "127.0.0.1"

// exposedWithoutTLS says whether a server listening on addr answers other
// machines in clear text: any address but loopback, with no TLS in front.
func exposedWithoutTLS(addr net.Addr, tlsOn bool) bool {
	if tlsOn {
		return false
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return false // a unix socket is local by nature
	}
	return !ta.IP.IsLoopback()
}
