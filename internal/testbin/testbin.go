// Package testbin builds Go binaries for tests that need to run real
// processes: the ten server at two versions, the test tenant, and so on;
// and finds what such tests need besides: programs on PATH, free ports,
// exit statuses.
//
// Each distinct build (package, ldflags, tags, output name) is compiled at
// most once per test binary, into a directory shared by every test in it, so
// a package with many tests that start a tenant pays for one `go build`.
//
//	func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
//
//	bin := testbin.Build(t, "github.com/tenement/ten/internal/testapp")
//	old := testbin.Build(t, "./cmd/ten", testbin.LDFlags("-X github.com/tenement/ten/version.Version=0.1.0"))
package testbin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tenement/ten/internal/proc"
)

// Option changes how Build compiles.
type Option func(*spec)

type spec struct {
	ldflags string
	tags    []string
	name    string
	race    bool
	env     []string
}

// LDFlags passes -ldflags, e.g. "-X github.com/tenement/ten/version.Version=1.2.3".
func LDFlags(flags string) Option { return func(s *spec) { s.ldflags = flags } }

// Tags passes -tags.
func Tags(tags ...string) Option { return func(s *spec) { s.tags = append(s.tags, tags...) } }

// Name sets the file name of the binary (default: the last element of the
// package path). Two builds of the same package that must sit side by side
// under predictable names use it ("ten-old", "ten-new").
func Name(name string) Option { return func(s *spec) { s.name = name } }

// Env adds KEY=VALUE pairs to the environment of `go build`.
func Env(kv ...string) Option { return func(s *spec) { s.env = append(s.env, kv...) } }

type result struct {
	once sync.Once
	path string
	err  error
}

var (
	mu     sync.Mutex
	dir    string
	builds = map[string]*result{}
)

// Build compiles pkg (an import path or a path relative to the module root,
// such as "./cmd/ten") with CGO_ENABLED=0 and returns the path of the
// binary. It fails the test if the build fails. Concurrent callers asking
// for the same build wait for a single compilation.
func Build(t testing.TB, pkg string, opts ...Option) string {
	t.Helper()
	p, err := build(pkg, opts...)
	if err != nil {
		t.Fatalf("testbin: %v", err)
	}
	return p
}

func build(pkg string, opts ...Option) (string, error) {
	var s spec
	for _, o := range opts {
		o(&s)
	}
	key := strings.Join([]string{pkg, s.ldflags, strings.Join(s.tags, ","), s.name, strings.Join(s.env, "\x00")}, "\x01")

	mu.Lock()
	if dir == "" {
		d, err := os.MkdirTemp("", "testbin-")
		if err == nil {
			// A server run as root starts tenants as an unprivileged user,
			// who must be able to execute the binaries built here.
			err = os.Chmod(d, 0o755)
		}
		if err != nil {
			mu.Unlock()
			return "", err
		}
		dir = d
	}
	r := builds[key]
	if r == nil {
		r = &result{}
		builds[key] = r
	}
	base := dir
	mu.Unlock()

	r.once.Do(func() { r.path, r.err = compile(base, key, pkg, s) })
	return r.path, r.err
}

func compile(base, key, pkg string, s spec) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	name := s.name
	if name == "" {
		name = path.Base(filepath.ToSlash(strings.TrimSuffix(pkg, "/")))
		if name == "." || name == "" {
			name = "bin"
		}
	}
	// Builds that differ only in flags must not overwrite each other.
	sum := sha256.Sum256([]byte(key))
	out := filepath.Join(base, hex.EncodeToString(sum[:6]), name)
	if runtime.GOOS == "windows" {
		out += ".exe"
	}
	args := []string{"build", "-o", out}
	if s.ldflags != "" {
		args = append(args, "-ldflags", s.ldflags)
	}
	if len(s.tags) > 0 {
		args = append(args, "-tags", strings.Join(s.tags, ","))
	}
	args = append(args, pkg)
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Env = append(cmd.Env, s.env...)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// Dir returns the shared directory binaries are built into, creating it if
// needed. Tests may put helper files there; Cleanup removes it.
func Dir() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if dir == "" {
		d, err := os.MkdirTemp("", "testbin-")
		if err == nil {
			err = os.Chmod(d, 0o755) // see Build
		}
		if err != nil {
			return "", err
		}
		dir = d
	}
	return dir, nil
}

// Cleanup removes every binary built so far. Call it from TestMain after
// m.Run; Main does it for you.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir = ""
	}
	builds = map[string]*result{}
}

// Main runs the tests and then Cleanup, returning the exit code:
//
//	func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
func Main(m *testing.M) int {
	defer Cleanup()
	return m.Run()
}

// Require returns the path of the program name, which the test needs
// installed, or skips the test saying so and how to install it.
func Require(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (%s)", name, install)
	}
	return p
}

// ExitCode returns the exit status of a command from err, what its Run,
// Wait or Output returned: 0 for nil, the status for an *exec.ExitError.
// Any other error means the command did not run, and fails the test.
func ExitCode(t testing.TB, err error) int {
	t.Helper()
	code, err := proc.ExitCode(err)
	if err != nil {
		t.Fatal(err)
		return -1
	}
	return code
}

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago: each is bound while the next is chosen, so none repeats, and all
// are released before it returns. Another process may take one first.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// DeadAddr returns a loopback address nothing listens on, so that a
// connection to it is refused.
func DeadAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePorts(t, 1)[0]))
}

// goTool is the go command. `go test` puts its own GOROOT/bin first on
// PATH, so this is the toolchain running the tests.
func goTool() string { return "go" }

var (
	rootOnce sync.Once
	root     string
	rootErr  error
)

// moduleRoot finds the directory of the main module (where go.mod is), so
// that "./cmd/ten" means the same thing from every package's tests.
func moduleRoot() (string, error) {
	rootOnce.Do(func() {
		out, err := exec.Command(goTool(), "env", "GOMOD").Output()
		if err != nil {
			rootErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			rootErr = fmt.Errorf("not inside a Go module")
			return
		}
		root = filepath.Dir(gomod)
	})
	return root, rootErr
}
