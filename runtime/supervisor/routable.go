package supervisor

import "fmt"

// CanServe reports whether a request for service (and instance id, or ""
// for the service's weighted host) would be served rather than refused:
// the service is configured and the names are valid. It does not start
// anything. TLS uses it to refuse certificates for names that route
// nowhere.
func (s *Supervisor) CanServe(service, id string) error {
	if id != "" {
		_, err := s.lookup(service, id)
		return err
	}
	if s.cfg.Services[service] == nil {
		return fmt.Errorf("%w %q", ErrUnknownService, service)
	}
	if err := validName(service); err != nil {
		return fmt.Errorf("%s: %w: service name: %v", service, ErrInvalidID, err)
	}
	return nil
}
