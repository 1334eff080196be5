package orchestrator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"aead.dev/minisign"

	"github.com/tenement/ten/compat"
	"github.com/tenement/ten/compat/compattest"
	"github.com/tenement/ten/internal/testbin"
	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

// Real ten binaries, built once per test run on first use.
var (
	binOnce sync.Once
	binDir  string
	bins    map[string]string
	binErr  error
)

// The builds: the installed release, an upgrade with an expand migration,
// one with a contract migration, and a new major version.
var variants = []compattest.Variant{
	{Name: "ten-1.0.0", Version: "1.0.0"},
	{Name: "ten-1.1.0-expand", Version: "1.1.0", Tags: compattest.TagExpand},
	{Name: "ten-1.2.0-contract", Version: "1.2.0", Tags: compattest.TagContract},
	{Name: "ten-2.0.0", Version: "2.0.0"},
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	testbin.Cleanup()
	os.Exit(code)
}

// tenBinary returns the path of a built variant.
func tenBinary(t *testing.T, name string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the real-binary tests run on Linux")
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "ten-check-bins-")
		if binErr == nil {
			bins, binErr = compattest.Build(binDir, variants...)
		}
	})
	if binErr != nil {
		t.Fatalf("build ten: %v", binErr)
	}
	p, ok := bins[name]
	if !ok {
		t.Fatalf("no variant %s", name)
	}
	return p
}

// installation is a production setup in a temporary directory: a config,
// a data directory with a database at the installed binary's schema, and
// the installed binary.
type installation struct {
	root      string
	config    string
	dataDir   string
	db        string
	installed string
	pub       minisign.PublicKey
	priv      minisign.PrivateKey
}

const testConfig = `# production config
[settings]
data_dir = %q

[service.api]
command = "/usr/bin/true"
runtime = "process"

[upgrade]
repo = "tenement/ten"
public_key = %q
binary_path = %q
`

func newInstallation(t *testing.T, installedVariant string) *installation {
	t.Helper()
	root := t.TempDir()
	in := &installation{
		root:    root,
		config:  filepath.Join(root, "etc", "tenement.toml"),
		dataDir: filepath.Join(root, "data"),
	}
	in.db = filepath.Join(in.dataDir, "tenement.db")
	in.pub, in.priv = rt.NewKey(t)
	in.installed = filepath.Join(root, "bin", "ten")
	copyFile(t, tenBinary(t, installedVariant), in.installed, 0o755)
	for _, d := range []string{filepath.Dir(in.config), in.dataDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(testConfig, in.dataDir, in.pub.String(), in.installed)
	if err := os.WriteFile(in.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The installed binary creates the production database, as it would.
	bin := &compat.Binary{Path: in.installed}
	rep, err := bin.Migrate(context.Background(), in.db, false)
	if err != nil || rep.Error != "" {
		t.Fatalf("create the production database: %v %s", err, rep.Error)
	}
	if err := os.WriteFile(filepath.Join(in.dataDir, "api_token"), []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return in
}

// options are CheckOptions for this installation; the candidate is up to
// the caller. Nothing comes from the test process's environment.
func (in *installation) options() CheckOptions {
	return CheckOptions{
		Config:   in.config,
		Getenv:   func(string) string { return "" },
		Cwd:      in.root,
		LookPath: func(string) (string, error) { return "", fs.ErrNotExist },
	}
}

// snapshot hashes everything check must leave alone: the installed
// binary, the config and every file (name, mode, content) of the data
// directory.
func (in *installation) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{
		"binary": hashFile(t, in.installed),
		"config": hashFile(t, in.config),
	}
	err := filepath.WalkDir(in.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(in.dataDir, p)
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			v += " " + hashFile(t, p)
		}
		out["data/"+rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertUnchanged(t *testing.T, before, after map[string]string) {
	t.Helper()
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var diffs []string
	for k := range keys {
		if before[k] != after[k] {
			diffs = append(diffs, fmt.Sprintf("%s: %q -> %q", k, before[k], after[k]))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		t.Errorf("check changed the installation:\n%s", strings.Join(diffs, "\n"))
	}
}

func hashFile(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func copyFile(t *testing.T, src, dst string, mode fs.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

// recordingRunner runs commands for real and remembers which binaries ran.
type recordingRunner struct {
	mu   sync.Mutex
	ran  []string
	next compat.Runner
}

func (r *recordingRunner) Run(ctx context.Context, c compat.Command) (compat.Output, error) {
	r.mu.Lock()
	r.ran = append(r.ran, c.Path+" "+strings.Join(c.Args, " "))
	r.mu.Unlock()
	return r.next.Run(ctx, c)
}

func (r *recordingRunner) ranOutside(dirs ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, cmd := range r.ran {
		ok := false
		for _, d := range dirs {
			if strings.HasPrefix(cmd, d+string(filepath.Separator)) {
				ok = true
			}
		}
		if !ok {
			out = append(out, cmd)
		}
	}
	return out
}

// results indexes a report's checks as "check status" -> messages.
func results(rep *CheckReport) map[string][]string {
	out := map[string][]string{}
	for _, c := range rep.Checks {
		k := c.Check + " " + string(c.Status)
		out[k] = append(out[k], c.Message)
	}
	return out
}

func dumpReport(t *testing.T, rep *CheckReport) {
	t.Helper()
	var b strings.Builder
	rep.WriteText(&b) //nolint:errcheck // strings.Builder
	t.Logf("report:\n%s", b.String())
}

// wantCheck asserts that the report has a line for check with status whose
// message contains every part.
func wantCheck(t *testing.T, rep *CheckReport, check string, status compat.Status, parts ...string) {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Check != check || c.Status != status {
			continue
		}
		ok := true
		for _, p := range parts {
			if !strings.Contains(c.Message, p) {
				ok = false
			}
		}
		if ok {
			return
		}
	}
	dumpReport(t, rep)
	t.Errorf("no %q line with status %s containing %q", check, status, parts)
}

func hasCheck(rep *CheckReport, check string) bool {
	return slices.ContainsFunc(rep.Checks, func(c compat.Result) bool { return c.Check == check })
}

// show prints an optional bool.
func show(b *bool) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprint(*b)
}
