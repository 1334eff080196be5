package supervisor

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// maxPortRetries bounds how often a start is retried on a new port when
// another process took the allocated one first.
const maxPortRetries = 3

// allocPort picks a port for k: fixed if the service has one, else the
// next one in [PortMin, PortMax] that no instance of ours holds, no live
// row in the database records (another server's tenants), and that can be
// bound right now. The search goes round the range from where the last
// one ended, as tenement's allocator does, so a port freed a moment ago
// (and perhaps still reached by stale clients) is not handed out again at
// once.
func (s *Supervisor) allocPort(ctx context.Context, k key, fixed int) (int, error) {
	recorded, err := s.recordedPorts(ctx)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fixed > 0 {
		if owner, ok := s.ports[fixed]; ok && owner != k {
			return 0, fmt.Errorf("fixed port %d is held by %s", fixed, owner)
		}
		if !canBind(fixed) {
			return 0, fmt.Errorf("fixed port %d is in use", fixed)
		}
		s.ports[fixed] = k
		return fixed, nil
	}
	lo, hi := s.opts.PortMin, s.opts.PortMax
	n := hi - lo + 1
	p := s.next
	for range n {
		if p > hi || p < lo {
			p = lo
		}
		cand := p
		p++
		if _, taken := s.ports[cand]; taken || recorded[cand] {
			continue
		}
		// Binding under s.mu serialises allocation; it costs a syscall pair.
		if !canBind(cand) {
			continue
		}
		s.ports[cand] = k
		s.next = p
		return cand, nil
	}
	return 0, fmt.Errorf("no free port in %d-%d (%d held by instances)", lo, hi, len(s.ports))
}

// releasePortLocked returns port to the pool if k holds it. Caller holds
// s.mu.
func (s *Supervisor) releasePortLocked(port int, k key) {
	if port > 0 && s.ports[port] == k {
		delete(s.ports, port)
	}
}

// canBind reports whether nothing listens on 127.0.0.1:port.
// portTaken reports whether a tenant that died during its start lost its
// port to another process: the port is still held, or the tenant said so
// before it died (the holder may be gone by the time we look: a client's
// short outgoing connection takes an ephemeral port for milliseconds).
func portTaken(port int, stderrTail string) bool {
	if !canBind(port) {
		return true
	}
	tail := strings.ToLower(stderrTail)
	return strings.Contains(tail, "address already in use") || strings.Contains(tail, "eaddrinuse")
}

func canBind(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
