package procmark

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestFindAndKillMarkedProcesses(t *testing.T) {
	mark := New("PROCMARK_TEST")
	// A marked shell whose child inherits the mark, and an unmarked one.
	marked := exec.Command("/bin/sh", "-c", "sleep 60 & wait")
	marked.Env = append(os.Environ(), mark)
	other := exec.Command("/bin/sleep", "60")
	for _, c := range []*exec.Cmd{marked, other} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		go c.Wait()
	}
	defer other.Process.Kill()

	deadline := time.Now().Add(5 * time.Second)
	var found []int
	for len(found) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("found %v, want the shell and its sleep", found)
		}
		time.Sleep(10 * time.Millisecond)
		found = Find(mark)
	}
	if !slices.Contains(found, marked.Process.Pid) || slices.Contains(found, other.Process.Pid) {
		t.Fatalf("found %v: want %d and its child, not %d", found, marked.Process.Pid, other.Process.Pid)
	}

	Kill(mark)
	for len(Find(mark)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still alive after Kill: %v", Find(mark))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !Alive(other.Process.Pid) {
		t.Fatal("Kill took an unmarked process")
	}
}
