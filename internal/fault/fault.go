// Package fault is the one way tests inject faults into running code.
//
// Code marks a place with Point(name, arg); unless a test asked for a fault
// there, the call does nothing. A test in the same process registers an
// action for a point with Set. A test that runs a real binary (the crash
// tests of ten-upgrade) cannot reach into it, so it sets the environment
// variable Env instead, and the process kills or stops itself at the point:
// that is the only way to be sure the crash lands between two writes.
//
// The points in use: "before", "after" and "undo" with an upgrade step's
// name (orchestrator); "journal.started", "journal.done", "journal.failed",
// "journal.undoing" and "journal.undone" with a step's name, once the
// journal has recorded it (orchestrator/journal); "store.backup.step" after
// each step of an online backup and "store.backup.copied" with the copy's
// path before it is checked (internal/sqlitefile, for runtime/store and
// ten-upgrade).
package fault

import (
	"maps"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Env is read once, at the first point reached. Its value is a
// comma-separated list of POINT:ARG: the process kills itself with SIGKILL
// at that point with that argument. "pause:ARG" instead stops it (SIGSTOP)
// at the point "before" with ARG, so that a test can change the machine
// under it before anything of the step runs; it goes on at SIGCONT.
// Examples: "after:promote", "pause:switch", "before:backup,undo:switch".
const Env = "TEN_UPGRADE_FAULT"

// rule is one entry of Env.
type rule struct{ point, arg string }

// rules is Env, parsed once: a process gets its environment at exec.
var rules = sync.OnceValue(func() []rule { return parse(os.Getenv(Env)) })

// actions holds the actions tests registered, copied on each write so that
// Point reads it without a lock; nil until the first Set.
var (
	actions atomic.Pointer[map[string]func(arg string)]
	mu      sync.Mutex // serialises Set and its reset
)

func parse(v string) []rule {
	if v == "" {
		return nil
	}
	var rs []rule
	for _, f := range strings.Split(v, ",") {
		point, arg, _ := strings.Cut(f, ":")
		rs = append(rs, rule{point, arg})
	}
	return rs
}

// Point is a place where a test may inject a fault; arg tells the places of
// one name apart (a step's name, a path). It runs the action that Set
// registered for name, and kills or stops the process if Env asks for it.
func Point(name, arg string) {
	for _, r := range rules() {
		switch {
		case r.arg != arg:
		case r.point == name:
			kill()
		case r.point == "pause" && name == "before":
			pause()
		}
	}
	if m := actions.Load(); m != nil {
		if f := (*m)[name]; f != nil {
			f(arg)
		}
	}
}

// Set registers f as the action of the point name and returns the function
// that puts back the action it replaced (usually none), for t.Cleanup.
func Set(name string, f func(arg string)) (reset func()) {
	old := update(name, f)
	return func() { update(name, old) }
}

// update makes f the action of name (nil: none) and returns the old one.
func update(name string, f func(arg string)) (old func(arg string)) {
	mu.Lock()
	defer mu.Unlock()
	m := map[string]func(string){}
	if cur := actions.Load(); cur != nil {
		maps.Copy(m, *cur)
	}
	old = m[name]
	if f == nil {
		delete(m, name)
	} else {
		m[name] = f
	}
	actions.Store(&m)
	return old
}

func kill() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL is not delivered synchronously
}

// pause stops the process and returns once it is continued. SIGSTOP is not
// delivered synchronously either: waiting for the SIGCONT makes sure that
// nothing after the point runs before the test has acted.
func pause() {
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, syscall.SIGCONT)
	defer signal.Stop(cont)
	syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	<-cont
}
