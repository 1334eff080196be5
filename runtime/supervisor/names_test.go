package supervisor

import (
	"context"
	"errors"
	"testing"

	"github.com/tenement/ten/runtime/config"
)

// TestIDRule: a new instance needs an id that passes names.Check (hosts are
// routed lower-cased, so "Alice" beside "alice" could never be reached),
// while an instance an earlier release stored under such an id is still
// known by name, so that it can be stopped and restarted.
func TestIDRule(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Services = map[string]*config.Service{"api": appService("/bin/true")}
	s, err := New(Options{Config: cfg, DB: openDB(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Spawn(context.Background(), "api", "Alice"); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("Spawn(api, Alice) = %v, want ErrInvalidID", err)
	}
	if _, _, err := ParseName("api:Alice"); err != nil {
		t.Errorf("ParseName(api:Alice) = %v; ids stored by earlier releases must still parse", err)
	}
	if _, err := s.lookup("api", "Alice"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("lookup(api, Alice) with no such instance = %v, want ErrInvalidID", err)
	}
	k := key{"api", "Alice"}
	s.mu.Lock()
	s.insts[k] = s.newInst(k, cfg.Services["api"])
	s.mu.Unlock()
	if _, err := s.lookup("api", "Alice"); err != nil {
		t.Errorf("lookup of a stored instance with an upper-case id = %v", err)
	}
}
