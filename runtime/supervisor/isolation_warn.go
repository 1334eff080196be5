package supervisor

// warnIsolation logs, once at start, each service whose isolation this
// server cannot provide: with namespace isolation the default (as in
// tenement), a server run without root would otherwise only say so at the
// first spawn of each service.
func (s *Supervisor) warnIsolation() {
	for _, name := range s.cfg.ServiceNames() {
		if err := checkIsolation(s.cfg.Services[name].Isolation); err != nil {
			s.log.Error("service's instances cannot start on this server", "service", name, "err", err)
		}
	}
}
