package docrun

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/compat/compattest"
	"github.com/tenement/ten/internal/fsutil"
	"github.com/tenement/ten/internal/procmark"
	"github.com/tenement/ten/internal/testbin"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// releaseChangelog is the CHANGELOG.md of the 1.1.0 archive the guide
// upgrades to.
const releaseChangelog = `# Changelog

## [1.1.0] - 2026-05-04

### Added
- Instance labels.

### Removed
- The deprecated --legacy-routes flag of ten serve.

## [1.0.0] - 2026-03-02

### Added
- First release.
`

// TestUpgradingGuide runs every sh block of docs/upgrading.md, in order,
// against a real installation: ten 1.0.0 installed on PATH with a testapp
// tenant, the 1.1.0 release as an archive in $NEW, and real Caddy and
// nginx. Each block runs with sh -e in the practice directory and must
// exit 0 and print its expect= texts.
func TestUpgradingGuide(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the guide is run on Linux")
	}
	if os.Getenv("TEN_SKIP_E2E") != "" {
		t.Skip("TEN_SKIP_E2E is set")
	}
	root, err := compattest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(root, "docs", "upgrading.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := Parse(string(md))
	if err != nil {
		t.Fatalf("docs/upgrading.md: %v", err)
	}

	dir := t.TempDir()
	// Run as root, ten starts the tenants as the tenement user, who must
	// reach the practice directory, as the guide says.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bins, err := compattest.Build(filepath.Join(dir),
		compattest.Variant{Name: "ten-1.0.0", Version: "1.0.0"},
		compattest.Variant{Name: "ten-1.1.0", Version: "1.1.0", Tags: compattest.TagExpand})
	if err != nil {
		t.Fatal(err)
	}
	tu := testbin.Build(t, "./cmd/ten-upgrade")
	app := testbin.Build(t, "./internal/testapp")

	binDir := filepath.Join(dir, "bin")
	work := filepath.Join(dir, "practice")
	home := filepath.Join(dir, "home")
	for _, d := range []string{binDir, work, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, bins["ten-1.0.0"], filepath.Join(binDir, "ten"))
	copyFile(t, tu, filepath.Join(binDir, "ten-upgrade"))
	copyFile(t, app, filepath.Join(work, "notes-server"))
	archive := filepath.Join(dir, "ten_1.1.0_linux_"+runtime.GOARCH+".tar.gz")
	writeArchive(t, archive, map[string]string{"ten": bins["ten-1.1.0"]}, map[string]string{"CHANGELOG.md": releaseChangelog})

	mark := procmark.New("DOCRUN_MARK")
	t.Cleanup(func() {
		for _, pid := range procmark.Kill(mark) {
			t.Logf("killed leftover process %d", pid)
		}
	})

	ports := testbin.FreePorts(t, 4)
	env := []string{
		mark,
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH") + ":/usr/sbin:/sbin",
		"HOME=" + home,
		"NEW=" + archive,
		"SERVE_PORT=" + strconv.Itoa(ports[0]),
		"TENEMENT_SERVER=http://127.0.0.1:" + strconv.Itoa(ports[0]),
		"CADDY_PORT=" + strconv.Itoa(ports[1]),
		"CADDY_ADMIN_PORT=" + strconv.Itoa(ports[2]),
		"NGINX_PORT=" + strconv.Itoa(ports[3]),
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "TENEMENT_"), strings.HasPrefix(k, "TEN_"), strings.HasPrefix(k, "XDG_"),
			k == "PATH", k == "HOME", k == "NEW", k == "PWD", k == "OLDPWD":
			continue
		}
		env = append(env, kv)
	}

	ran, noRun, skipped := 0, 0, 0
	for _, b := range blocks {
		if !b.Shell() {
			continue
		}
		if b.NoRun {
			noRun++
			t.Logf("line %d: not run (%s)", b.Line, b.Reason)
			continue
		}
		if missing := missingTool(b.Needs); missing != "" {
			skipped++
			t.Logf("line %d: SKIPPED, %s is not installed", b.Line, missing)
			continue
		}
		ran++
		out, took, err := runBlock(t, work, env, b.Code)
		t.Logf("line %d: %s", b.Line, took.Round(time.Millisecond))
		if err != nil {
			t.Fatalf("docs/upgrading.md:%d: %v\n--- block ---\n%s--- output ---\n%s", b.Line, err, b.Code, tail(out, 6000))
		}
		for _, want := range b.Expect {
			if !strings.Contains(out, want) {
				t.Fatalf("docs/upgrading.md:%d: output lacks %q\n--- block ---\n%s--- output ---\n%s", b.Line, want, b.Code, tail(out, 6000))
			}
		}
		if testing.Verbose() {
			t.Logf("output:\n%s", tail(out, 2000))
		}
	}
	t.Logf("%d blocks run, %d marked no-run, %d skipped", ran, noRun, skipped)
	if ran == 0 {
		t.Fatal("no runnable block in docs/upgrading.md")
	}
	if t.Failed() {
		logTail(t, filepath.Join(work, "serve.log"))
	}
}

// runBlock runs one block with sh -e; its output goes to a file, so a
// process the block leaves in the background does not hold the test up.
func runBlock(t *testing.T, dir string, env []string, code string) (string, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, "sh", "-e", "-c", code)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	b, _ := os.ReadFile(f.Name())
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %v", took.Round(time.Second), err)
	}
	return string(b), took, err
}

func missingTool(names []string) string {
	for _, n := range names {
		found := false
		for _, p := range []string{n, "/usr/sbin/" + n, "/usr/bin/" + n, "/sbin/" + n} {
			if _, err := exec.LookPath(p); err == nil {
				found = true
				break
			}
		}
		if !found {
			return n
		}
	}
	return ""
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	if _, err := fsutil.CopyFile(src, dst, 0o755); err != nil {
		t.Fatal(err)
	}
}

// writeArchive writes a release archive the way GoReleaser lays it out:
// the binaries and the changelog at the top.
func writeArchive(t *testing.T, path string, files, texts map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(name string, mode int64, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for name, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		add(name, 0o755, b)
	}
	for name, text := range texts {
		add(name, 0o644, []byte(text))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func logTail(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err == nil {
		t.Logf("%s (tail):\n%s", filepath.Base(path), tail(string(b), 4000))
	}
}
