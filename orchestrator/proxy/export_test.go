package proxy

// withRender transforms every rendered config before it is validated and
// applied, so tests can make a change the proxy must refuse.
func withRender(f func([]byte) []byte) Option { return func(s *settings) { s.render = f } }
