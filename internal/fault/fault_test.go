package fault

import (
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/tenement/ten/internal/testbin"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want []rule
	}{
		{"", nil},
		{"after:promote", []rule{{"after", "promote"}}},
		{"pause:switch,undo:switch", []rule{{"pause", "switch"}, {"undo", "switch"}}},
		{"store.backup.step", []rule{{"store.backup.step", ""}}},
	} {
		if got := parse(tc.env); !slices.Equal(got, tc.want) {
			t.Errorf("parse(%q) = %v, want %v", tc.env, got, tc.want)
		}
	}
}

func TestSet(t *testing.T) {
	var got []string
	record := func(name string) func(string) {
		return func(arg string) { got = append(got, name+":"+arg) }
	}
	resetA := Set("a", record("a"))
	t.Cleanup(resetA)
	t.Cleanup(Set("b", record("b")))
	var resetB2 func()
	for _, tc := range []struct {
		name, arg string
		before    func() // run before the point is reached
		want      []string
	}{
		{name: "a", arg: "x", want: []string{"a:x"}},
		{name: "b", arg: "", want: []string{"b:"}},
		{name: "c", arg: "x", want: nil},
		{name: "a", arg: "y", before: resetA, want: nil},
		{name: "b", arg: "y", before: func() { resetB2 = Set("b", record("b2")) }, want: []string{"b2:y"}},
		{name: "b", arg: "z", before: func() { resetB2() }, want: []string{"b:z"}},
	} {
		if tc.before != nil {
			tc.before()
		}
		got = nil
		Point(tc.name, tc.arg)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Point(%q, %q) ran %v, want %v", tc.name, tc.arg, got, tc.want)
		}
	}
}

func TestMain(m *testing.M) { os.Exit(testbin.MainWithHelper(m, reachPoint)) }

// reachPoint is the helper process of TestEnv: it reaches the point name
// with FAULT_ARG and then exits 0.
func reachPoint(name string) int {
	Point(name, os.Getenv("FAULT_ARG"))
	return 0
}

// TestEnv runs this test binary as a process that reaches a point (see
// reachPoint), and checks what Env made of it: SIGKILL, SIGSTOP (the test
// continues it), or nothing.
func TestEnv(t *testing.T) {
	for _, tc := range []struct {
		env, point, arg string
		want            ending
	}{
		{"after:promote", "after", "promote", killed},
		{"after:promote", "after", "switch", exited},
		{"after:promote", "before", "promote", exited},
		{"before:backup,undo:switch", "undo", "switch", killed},
		{"pause:switch", "before", "switch", stopped},
		{"pause:switch", "after", "switch", exited},
		{"journal.done:watch", "journal.done", "watch", killed},
		{"", "after", "promote", exited},
	} {
		t.Run(tc.env+"@"+tc.point+":"+tc.arg, func(t *testing.T) {
			cmd := testbin.Helper(tc.point, Env+"="+tc.env, "FAULT_ARG="+tc.arg)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			got := outcome(t, cmd.Process.Pid)
			if got != tc.want {
				t.Errorf("%s=%s at %s:%s: process %s, want %s", Env, tc.env, tc.point, tc.arg, got, tc.want)
			}
		})
	}
}

// ending is how the process of TestEnv ended.
type ending string

const (
	killed  ending = "killed by SIGKILL"
	stopped ending = "stopped, then exited 0"
	exited  ending = "exited 0"
)

// outcome waits for the process and says how it ended; a stopped process is
// continued and must then exit 0.
func outcome(t *testing.T, pid int) ending {
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, syscall.WUNTRACED, nil); err != nil {
		t.Fatal(err)
	}
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		return killed
	case ws.Stopped():
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			t.Fatal(err)
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			t.Errorf("continued process ended with %v", ws)
		}
		return stopped
	case ws.Exited() && ws.ExitStatus() == 0:
		return exited
	case ws.Exited():
		return ending(fmt.Sprintf("exited %d", ws.ExitStatus()))
	}
	return ending("killed by " + ws.Signal().String())
}
