package proc

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// child starts a marked `sleep 60` and returns it with its mark, its
// executable and its start time; the test kills it at the end.
func child(t *testing.T) (cmd *exec.Cmd, mark, exe string, start int64) {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep:", err)
	}
	exe, err = filepath.EvalSymlinks(sleep)
	if err != nil {
		t.Fatal(err)
	}
	mark = "LC_PROC_TEST=" + strings.ReplaceAll(t.Name(), "/", "_") + time.Now().Format("150405.000000000")
	cmd = exec.Command(sleep, "60")
	cmd.Env = append(os.Environ(), mark)
	before := time.Now().UnixMilli()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	start, err = StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// Derived from the boot time, which procfs gives in whole seconds.
	if start < before-2000 || start > time.Now().UnixMilli()+2000 {
		t.Fatalf("start time %d, want between %d and now", start, before)
	}
	return cmd, mark, exe, start
}

// TestSame is the one rule for "is pid the process that started then",
// shared by the supervisor and the orchestrator.
func TestSame(t *testing.T) {
	cmd, _, _, start := child(t)
	pid := cmd.Process.Pid
	for _, c := range []struct {
		name  string
		pid   int
		start int64
		want  bool
	}{
		{"its own start time", pid, start, true},
		{"within the clock's slack", pid, start + startTimeSlack/2, true},
		{"another start time: the pid was reused", pid, start + 5*startTimeSlack, false},
		{"unknown start time (0)", pid, 0, false},
		{"negative start time", pid, -1, false},
		{"pid 0", 0, start, false},
		{"negative pid", -1, start, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Same(c.pid, c.start); got != c.want {
				t.Fatalf("Same(%d, %d) = %v, want %v", c.pid, c.start, got, c.want)
			}
		})
	}
}

// TestFind finds a live child by each question, and no longer once it
// exited.
func TestFind(t *testing.T) {
	cmd, mark, exe, start := child(t)
	me := ID{PID: cmd.Process.Pid, StartTime: start}
	finders := []struct {
		name string
		find func() ([]ID, error)
	}{
		{"by environment", func() ([]ID, error) { return FindByEnv(mark) }},
		{"by executable", func() ([]ID, error) { return FindByExe(exe) }},
		{"by parent", func() ([]ID, error) { return Children(os.Getpid()) }},
	}
	found := func(t *testing.T, find func() ([]ID, error)) bool {
		got, err := find()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(got, me)
	}
	for _, f := range finders {
		t.Run(f.name+"/alive", func(t *testing.T) {
			if !found(t, f.find) {
				t.Fatalf("%v not found", me)
			}
		})
	}
	for _, kv := range []string{mark + "x", strings.TrimPrefix(mark, "LC_"), strings.SplitN(mark, "=", 2)[0]} {
		if found(t, func() ([]ID, error) { return FindByEnv(kv) }) {
			t.Fatalf("FindByEnv(%q) matched the mark %q", kv, mark)
		}
	}
	if args, err := Cmdline(me.PID); err != nil || !slices.Equal(args[1:], []string{"60"}) {
		t.Fatalf("Cmdline = %q, %v; want [sleep 60]", args, err)
	}

	cmd.Process.Kill()
	// Not reaped yet: a zombie, which is not alive.
	eventually(t, "the killed child to be a zombie", func() bool { return State(me.PID) == 'Z' })
	if Alive(me.PID) || Same(me.PID, me.StartTime) {
		t.Fatal("a zombie counts as alive")
	}
	cmd.Wait()
	for _, f := range finders {
		t.Run(f.name+"/gone", func(t *testing.T) {
			eventually(t, "the child to be gone", func() bool { return !found(t, f.find) })
		})
	}
	if Alive(me.PID) || State(me.PID) != 0 {
		t.Fatalf("reaped pid %d is alive (state %q)", me.PID, State(me.PID))
	}
	if _, err := StartTime(me.PID); err == nil {
		t.Fatal("start time of a reaped process")
	}
}

func TestSelf(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "fd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !slices.Contains(FDs(os.Getpid()), f.Name()) {
		t.Fatalf("FDs of this process %v lack %s", FDs(os.Getpid()), f.Name())
	}
	if pid, err := HostPID(); err != nil || pid != os.Getpid() {
		t.Fatalf("HostPID = %d, %v; want %d", pid, err, os.Getpid())
	}
	if !Alive(os.Getpid()) || State(os.Getpid()) == 0 {
		t.Fatal("this process is not alive")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := FindByExe(exe); err != nil || slices.ContainsFunc(ids, func(id ID) bool { return id.PID == os.Getpid() }) {
		t.Fatalf("FindByExe(own executable) = %v, %v: the finders list the caller", ids, err)
	}
}

func TestKernel(t *testing.T) {
	if cgs, err := Cgroups(os.Getpid()); err != nil || len(cgs) == 0 {
		t.Fatalf("Cgroups = %v, %v", cgs, err)
	}
	if b, err := Mountinfo(); err != nil || !strings.Contains(string(b), " - proc ") {
		t.Fatalf("Mountinfo lacks procfs: %v", err)
	}
	if m := MemTotal(); !strings.HasSuffix(m, " kB") {
		t.Fatalf("MemTotal = %q", m)
	}
	for _, c := range []struct {
		key     string
		want    string
		wantErr error
	}{
		{"kernel.ostype", "Linux", nil},
		{"kernel.ten_no_such_parameter", "", ErrNoSysctl},
		{"ten_no_such_group.parameter", "", os.ErrNotExist},
	} {
		got, err := Sysctl(c.key)
		if got != c.want || !errors.Is(err, c.wantErr) {
			t.Errorf("Sysctl(%s) = %q, %v; want %q, %v", c.key, got, err, c.want, c.wantErr)
		}
	}
}

func TestDescribe(t *testing.T) {
	cmd, mark, _, _ := child(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	in, err := Describe(context.Background(), os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	wd, _ := os.Getwd()
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"argv", slices.Equal(in.Args, os.Args)},
		{"executable", in.Exe == exe},
		{"working directory", in.Dir == wd},
		{"environment", slices.Contains(in.Env, "PATH="+os.Getenv("PATH"))},
		{"listener", slices.Contains(in.Listening, ln.Addr().String())},
		{"child", slices.Contains(in.Children, cmd.Process.Pid)},
	} {
		if !c.ok {
			t.Errorf("Describe got the %s wrong: %+v", c.what, in)
		}
	}
	if in, err := Describe(context.Background(), cmd.Process.Pid); err != nil || !slices.Contains(in.Env, mark) {
		t.Errorf("Describe(child) = %+v, %v; want its mark %s", in, err, mark)
	}
	if _, err := Describe(context.Background(), -1); err == nil {
		t.Error("Describe(-1) succeeded")
	}
}

func TestParseCgroups(t *testing.T) {
	for _, c := range []struct {
		file string
		want []Cgroup
	}{
		{"0::/user.slice/ten\n", []Cgroup{{Hierarchy: "0", Path: "/user.slice/ten"}}},
		{"4:memory:/ten\n1:cpu,cpuacct:/ten\n0::/\n", []Cgroup{
			{"4", []string{"memory"}, "/ten"}, {"1", []string{"cpu", "cpuacct"}, "/ten"}, {"0", nil, "/"}}},
		{"1:name=systemd:/a:b\n", []Cgroup{{"1", []string{"name=systemd"}, "/a:b"}}},
		{"garbage\n\n", nil},
	} {
		if got := ParseCgroups([]byte(c.file)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseCgroups(%q) = %+v, want %+v", c.file, got, c.want)
		}
	}
}

func TestNamespace(t *testing.T) {
	cmd, _, _, _ := child(t)
	mine, err := Namespace(os.Getpid(), "pid")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mine, "pid:[") {
		t.Errorf("Namespace(self, pid) = %q, want pid:[inode]", mine)
	}
	if theirs, err := Namespace(cmd.Process.Pid, "pid"); err != nil || theirs != mine {
		t.Errorf("a child's pid namespace = %q, %v; want ours, %q", theirs, err, mine)
	}
	if _, err := Namespace(cmd.Process.Pid, "no-such-kind"); err == nil {
		t.Error("Namespace of an unknown kind did not fail")
	}
}
