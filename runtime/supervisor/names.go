package supervisor

import (
	"errors"

	"github.com/tenement/ten/runtime/names"
)

// validName applies the one rule for instance ids and tenant names
// (names.Rule), so that the supervisor, the API and the token store agree.
func validName(s string) error {
	if why := names.Problem(s); why != "" {
		return errors.New(why)
	}
	return nil
}

// storedName accepts the ids earlier releases stored (names.Stored), so
// that their instances are still adopted and supervised after an upgrade.
func storedName(s string) bool { return names.Stored(s) }

// knownStored reports whether service:id is an instance this supervisor
// already has under an id an earlier release accepted, so that it can still
// be stopped, restarted and woken though a new instance could not take
// that id.
func (s *Supervisor) knownStored(service, id string) bool {
	if !storedName(id) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insts[key{service, id}] != nil
}
