package releasebuild

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/procmark"
	"github.com/tenement/ten/internal/releasesign"
	"github.com/tenement/ten/internal/testbin"
	"github.com/tenement/ten/orchestrator/release"
	rt "github.com/tenement/ten/orchestrator/release/releasetest"
	"github.com/tenement/ten/runtime/handoff"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// checkReport is the part of `ten-upgrade check --json` these tests read.
type checkReport struct {
	Verdict   string `json:"verdict"`
	ExitCode  int    `json:"exit_code"`
	Candidate *struct {
		Source  string `json:"source"`
		Version string `json:"version"`
		Asset   string `json:"asset"`
		SHA256  string `json:"sha256"`
		Signed  bool   `json:"signed"`
		KeyID   string `json:"key_id"`
	} `json:"candidate"`
	Checks []struct {
		Check   string `json:"check"`
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"checks"`
}

func (r *checkReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verdict %s (exit %d)\n", r.Verdict, r.ExitCode)
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "  %-5s %-10s %s\n", c.Status, c.Check, c.Message)
	}
	return b.String()
}

// has reports whether a check line has the status and every part.
func (r *checkReport) has(check, status string, parts ...string) bool {
	for _, c := range r.Checks {
		if c.Check != check || c.Status != status {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(c.Message, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// cleanEnv is the test's environment without anything that would point
// ten, ten-upgrade or the signer somewhere else.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TENEMENT_") || strings.HasPrefix(k, "MINISIGN_") || k == "GITHUB_TOKEN" || k == "SOURCE_DATE_EPOCH" || k == "VERSION" || k == "TARGETS" || k == "COMMIT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// installation is a server's config, database and installed ten 1.0.0.
type installation struct {
	config, installed string
}

func newInstallation(t *testing.T) installation {
	t.Helper()
	dir := t.TempDir()
	installed := testbin.Build(t, "./cmd/ten", testbin.LDFlags("-s -w -X "+VersionPackage+".Version=1.0.0"), testbin.Name("ten"))
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "tenement.toml")
	cfg := fmt.Sprintf("[settings]\ndata_dir = %q\n\n[service.app]\ncommand = \"/bin/true\"\n", data)
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(installed, "migrate", "--db", filepath.Join(data, "tenement.db"))
	cmd.Env = cleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ten migrate: %v\n%s", err, out)
	}
	return installation{config: config, installed: installed}
}

// check runs `ten-upgrade check --json` for the installation.
func (in installation) check(t *testing.T, tenUpgrade string, args ...string) *checkReport {
	t.Helper()
	args = append([]string{"check", "--json", "--config", in.config, "--installed", in.installed}, args...)
	cmd := exec.Command(tenUpgrade, args...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var rep checkReport
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
		t.Fatalf("ten-upgrade %v: %v, no JSON report (%v)\nstdout:\n%s\nstderr:\n%s", args, err, jerr, stdout.String(), stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != rep.ExitCode {
		t.Errorf("exit status %d, but the report says %d", code, rep.ExitCode)
	}
	return &rep
}

// TestReleaseLocalArtifactsPassTenUpgradeCheck builds a release with
// release-local, exactly as `make release-local` does (for this machine's
// platform only, to keep the test short), and gives it to the
// ten-upgrade inside it: as a local archive (--binary) and as a GitHub
// release verified with the throwaway key (--public-key
// dist/minisign.pub). Both must accept it; altered artifacts must be
// refused before anything of them runs.
func TestReleaseLocalArtifactsPassTenUpgradeCheck(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ten-upgrade check runs the release's binaries, built for Linux here")
	}
	root := moduleRoot(t)
	tool := testbin.Build(t, "./internal/cmd/release-local")
	dist := filepath.Join(t.TempDir(), "dist")
	const version, epoch = "1.1.0", "1767225600"
	cmd := exec.Command(tool, "--dist", dist, "--version", "v"+version, "--commit", "abc1234", "--targets", "host")
	cmd.Dir = root
	cmd.Env = cleanEnv("SOURCE_DATE_EPOCH=" + epoch)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("release-local: %v\n%s%s", err, stdout.String(), stderr.String())
	}

	// dist/ holds the release, the throwaway key pair and the marker that
	// lets the next run empty it, nothing else.
	archiveName := ArchiveName(version, Host())
	var files []string
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			files = append(files, e.Name())
		}
	}
	want := []string{ChecksumsName, SignatureName, ThrowawaySecretKey, ThrowawayPublicKey, archiveName, distMarker}
	slices.Sort(want)
	if !slices.Equal(files, want) {
		t.Fatalf("dist holds %v, want %v", files, want)
	}
	archive := filepath.Join(dist, archiveName)
	pubFile := filepath.Join(dist, ThrowawayPublicKey)
	pubText, _ := os.ReadFile(pubFile)
	pub, err := releasesign.ReadPublicKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), pub.String()) {
		t.Errorf("release-local did not print the public key %s:\n%s", pub.String(), stdout.String())
	}
	if fi, err := os.Stat(filepath.Join(dist, ThrowawaySecretKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	// checksums.txt: one line for the archive, in GoReleaser's format, and
	// signed by the throwaway key at SOURCE_DATE_EPOCH.
	sums, _ := os.ReadFile(filepath.Join(dist, ChecksumsName))
	sum, err := release.FileSHA256(archive)
	if err != nil {
		t.Fatal(err)
	}
	if want := sum + "  " + archiveName + "\n"; string(sums) != want {
		t.Errorf("checksums.txt = %q, want %q", sums, want)
	}
	sig, _ := os.ReadFile(filepath.Join(dist, SignatureName))
	if tc, err := releasesign.Verify(pub, sums, sig); err != nil || tc != "timestamp:"+epoch+"\tfile:checksums.txt\thashed" {
		t.Errorf("signature: %q, %v", tc, err)
	}

	// The archive: GoReleaser's layout, with this repository's files.
	unpacked := t.TempDir()
	names, err := release.Unpack(archive, unpacked, release.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if want := append(slices.Clone(ExtraFiles), "ten", "ten-upgrade"); !slices.Equal(names, want) {
		t.Errorf("archive entries %v, want %v", names, want)
	}
	for _, f := range ExtraFiles {
		a, _ := os.ReadFile(filepath.Join(root, f))
		b, _ := os.ReadFile(filepath.Join(unpacked, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s in the archive differs from the repository's", f)
		}
	}
	tenUpgrade := filepath.Join(unpacked, "ten-upgrade")
	if out, err := exec.Command(tenUpgrade, "--version").Output(); err != nil || string(out) != "ten-upgrade "+version+"\n" {
		t.Errorf("ten-upgrade --version = %q, %v", out, err)
	}

	in := newInstallation(t)

	t.Run("local archive", func(t *testing.T) {
		rep := in.check(t, tenUpgrade, "--binary", archive)
		if rep.Verdict != "safe" || rep.Candidate == nil || rep.Candidate.Version != version || rep.Candidate.SHA256 != sum {
			t.Fatalf("--binary %s:\n%s candidate %+v", archiveName, rep, rep.Candidate)
		}
		if !rep.has("binary", "ok", "unpacked ten from "+archiveName) || !rep.has("version", "ok", "1.0.0 -> "+version) {
			t.Errorf("missing check lines:\n%s", rep)
		}
	})

	t.Run("damaged local archive", func(t *testing.T) {
		data, _ := os.ReadFile(archive)
		cut := filepath.Join(t.TempDir(), archiveName)
		if err := os.WriteFile(cut, data[:len(data)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		rep := in.check(t, tenUpgrade, "--binary", cut)
		if rep.Verdict != "unsafe" || !rep.has("binary", "fail", "damaged archive") {
			t.Fatalf("a truncated archive:\n%s", rep)
		}
	})

	// The GitHub release, as the tagged-release workflow publishes it.
	asset := func(name string) *rt.Asset {
		data, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		return &rt.Asset{Name: name, Data: data}
	}
	published := func() []*rt.Asset {
		return []*rt.Asset{asset(archiveName), asset(ChecksumsName), asset(SignatureName)}
	}
	fromGitHub := func(t *testing.T, assets []*rt.Asset, key string) *checkReport {
		srv := rt.NewServer(t, "tenement/ten")
		srv.Add(&rt.Release{Tag: "v" + version, Name: "v" + version, Assets: assets})
		return in.check(t, tenUpgrade, "--repo", "tenement/ten", "--github-api", srv.APIURL(), "--to", "v"+version, "--public-key", key)
	}

	t.Run("github release", func(t *testing.T) {
		rep := fromGitHub(t, published(), pubFile)
		if rep.Verdict != "safe" || rep.Candidate == nil || !rep.Candidate.Signed || rep.Candidate.KeyID != release.KeyID(pub.ID()) || rep.Candidate.Asset != archiveName {
			t.Fatalf("release from the fake GitHub:\n%s candidate %+v", rep, rep.Candidate)
		}
		for _, c := range []string{"signature", "checksum", "binary"} {
			if !rep.has(c, "ok") {
				t.Errorf("no ok %s line:\n%s", c, rep)
			}
		}
	})

	t.Run("run from github release", func(t *testing.T) {
		upgradeFromGitHub(t, tenUpgrade, in, version, pubFile, func() *rt.Server {
			srv := rt.NewServer(t, "tenement/ten")
			srv.Add(&rt.Release{Tag: "v" + version, Name: "v" + version, Assets: published()})
			return srv
		})
	})

	other, err := releasesign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	otherPub := filepath.Join(t.TempDir(), "other.pub")
	if err := os.WriteFile(otherPub, other.PublicKeyFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	flip := func(a *rt.Asset) {
		a.Data = bytes.Clone(a.Data)
		a.Data[len(a.Data)/2] ^= 0x01
	}
	for _, tt := range []struct {
		name  string
		key   string
		alter func(assets []*rt.Asset) []*rt.Asset
		check string
		parts []string
	}{
		{name: "archive altered", check: "checksum", parts: []string{"SHA-256 of " + archiveName, "tampered"},
			alter: func(as []*rt.Asset) []*rt.Asset { flip(as[0]); return as }},
		{name: "archive and checksums altered", check: "signature", parts: []string{"altered after signing"},
			alter: func(as []*rt.Asset) []*rt.Asset {
				flip(as[0])
				as[1].Data = rt.Checksums(as[0])
				return as
			}},
		{name: "re-signed by another key", check: "signature", parts: []string{"signed by key " + other.KeyID(), "pinned"},
			alter: func(as []*rt.Asset) []*rt.Asset {
				sig, err := releasesign.Sign(other, as[1].Data, "timestamp:0", "x")
				if err != nil {
					t.Fatal(err)
				}
				as[2].Data = sig
				return as
			}},
		{name: "signature missing", check: "signature", parts: []string{"no checksums.txt.minisig"},
			alter: func(as []*rt.Asset) []*rt.Asset { return as[:2] }},
		{name: "another key pinned", key: otherPub, check: "signature", parts: []string{"signed by key " + release.KeyID(pub.ID())},
			alter: func(as []*rt.Asset) []*rt.Asset { return as }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == "" {
				key = pubFile
			}
			rep := fromGitHub(t, tt.alter(published()), key)
			if rep.Verdict != "unsafe" || !rep.has(tt.check, "fail", tt.parts...) {
				t.Fatalf("want a failed %s check with %q:\n%s", tt.check, tt.parts, rep)
			}
			if rep.has("binary", "ok") {
				t.Errorf("the altered release was unpacked and run:\n%s", rep)
			}
		})
	}
}

// upgradeFromGitHub starts the installation's ten 1.0.0 (a copy, since run
// promotes over it) and upgrades it with `ten-upgrade run` from the fake
// GitHub release: the published artifacts must take it to version.
func upgradeFromGitHub(t *testing.T, tenUpgrade string, in installation, version, pubFile string, newServer func() *rt.Server) {
	t.Helper()
	dir := t.TempDir()
	installed := filepath.Join(dir, "ten")
	b, err := os.ReadFile(in.installed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(installed, b, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(filepath.Dir(in.config), "data")
	mark := procmark.New("RELEASETEST_MARK")
	serve := exec.Command(installed, "serve", "--host", "127.0.0.1", "--port", "0", "--config", in.config)
	serve.Env = cleanEnv(mark)
	serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	go serve.Wait()
	t.Cleanup(func() { procmark.Kill(mark) })

	ctl := handoff.NewControlClient(data)
	status := func() (handoff.Status, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return ctl.Status(ctx)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, err := status(); err == nil && st.Version == "1.0.0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ten serve 1.0.0 did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}

	srv := newServer()
	cmd := exec.Command(tenUpgrade, "run", "--yes", "--config", in.config, "--installed", installed,
		"--repo", "tenement/ten", "--github-api", srv.APIURL(), "--to", "v"+version,
		"--public-key", pubFile, "--strategy", "handoff", "--watch", "1s")
	cmd.Env = cleanEnv(mark)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ten-upgrade run: %v\n%s", err, out)
	}
	st, err := status()
	if err != nil || st.Version != version {
		t.Fatalf("after run: %+v, %v\n%s", st, err, out)
	}
	if v, err := exec.Command(installed, "--version").Output(); err != nil || string(v) != "ten "+version+"\n" {
		t.Errorf("installed binary after run: %q, %v", v, err)
	}
}
