package testbin

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(MainWithHelper(m, testHelper)) }

// testHelper is the helper process of TestHelper: "echo" prints its mode
// and TESTBIN_ARG, "exit" fails.
func testHelper(mode string) int {
	if mode == "exit" {
		return 3
	}
	fmt.Printf("%s %s\n", mode, os.Getenv("TESTBIN_ARG"))
	return 0
}

const pkg = "github.com/tenement/ten/internal/testapp"

func TestBuildOncePerKey(t *testing.T) {
	var wg sync.WaitGroup
	paths := make([]string, 4)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i] = Build(t, pkg)
		}()
	}
	wg.Wait()
	for _, p := range paths {
		if p != paths[0] {
			t.Fatalf("concurrent builds gave %q", paths)
		}
	}
	st, err := os.Stat(paths[0])
	if err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("binary %v %v", st, err)
	}
	before := st.ModTime()
	if Build(t, pkg) != paths[0] {
		t.Fatal("second build, different path")
	}
	if st, _ := os.Stat(paths[0]); !st.ModTime().Equal(before) {
		t.Fatal("rebuilt")
	}

	// Different flags are a different binary, side by side, under the
	// requested name.
	other := Build(t, "./internal/testapp", LDFlags("-s -w"), Name("testapp-stripped"))
	if other == paths[0] || !strings.HasSuffix(other, "/testapp-stripped") {
		t.Fatalf("flagged build at %q (plain at %q)", other, paths[0])
	}
	if _, err := os.Stat(paths[0]); err != nil {
		t.Fatal("plain build overwritten")
	}
}

func TestBuildFailureIsReported(t *testing.T) {
	_, err := build("github.com/tenement/ten/internal/no-such-package")
	if err == nil || !strings.Contains(err.Error(), "no-such-package") {
		t.Fatalf("err = %v", err)
	}
	// Cached: asking again does not rebuild and fails the same way.
	if _, err2 := build("github.com/tenement/ten/internal/no-such-package"); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("second err = %v", err2)
	}
}

func TestCGODisabled(t *testing.T) {
	p := Build(t, pkg)
	out, err := exec.Command("go", "version", "-m", p).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "CGO_ENABLED=0") {
		t.Fatalf("not built with CGO_ENABLED=0:\n%s", out)
	}
}

func TestHelper(t *testing.T) {
	for _, tc := range []struct {
		mode string
		env  []string
		want string
	}{
		{"echo", nil, "echo \n"},
		{"echo", []string{"TESTBIN_ARG=x"}, "echo x\n"},
		{"exit", nil, "exit status 3"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			out, err := Helper(tc.mode, tc.env...).Output()
			got := string(out)
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("helper %s %v: %q, want %q", tc.mode, tc.env, got, tc.want)
			}
		})
	}
}

// skipRecorder is a testing.TB that keeps what Skipf and Fatal say.
type skipRecorder struct {
	testing.TB
	skipped string
	fatal   string
}

// Fatal records the failure. It returns, unlike testing.T's, and ExitCode
// then returns -1.
func (r *skipRecorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }

func (r *skipRecorder) Helper() {}

// Skipf records the reason. It returns, unlike testing.T's, and Require
// then returns no path.
func (r *skipRecorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
}

func TestRequire(t *testing.T) {
	want, err := exec.LookPath(goTool())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, program string
		path, skipped string
	}{
		{"installed", goTool(), want, ""},
		{"missing", "no-such-program-ten", "", "no-such-program-ten is not installed (it never is)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &skipRecorder{TB: t}
			if got := Require(r, tt.program, "it never is"); got != tt.path || r.skipped != tt.skipped {
				t.Errorf("Require = %q, skipped %q; want %q, skipped %q", got, r.skipped, tt.path, tt.skipped)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name  string
		cmd   *exec.Cmd
		code  int
		fatal bool
	}{
		{"success", exec.Command(goTool(), "version"), 0, false},
		{"exit status", exec.Command(goTool(), "no-such-subcommand"), 2, false},
		{"not started", exec.Command("no-such-program-ten"), -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &skipRecorder{TB: t}
			if got := ExitCode(r, tt.cmd.Run()); got != tt.code || (r.fatal != "") != tt.fatal {
				t.Errorf("ExitCode = %d, fatal %q; want %d, fatal %v", got, r.fatal, tt.code, tt.fatal)
			}
		})
	}
}

func TestFreePorts(t *testing.T) {
	ports := FreePorts(t, 3)
	if len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Fatalf("FreePorts(3) = %v, want three distinct ports", ports)
	}
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d is not free after FreePorts: %v", p, err)
			continue
		}
		ln.Close()
	}
}

func TestDeadAddr(t *testing.T) {
	addr := DeadAddr(t)
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("%s accepted a connection", addr)
	}
}
