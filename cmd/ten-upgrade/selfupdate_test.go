package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"aead.dev/minisign"

	"github.com/tenement/ten/internal/fsutil"
	"github.com/tenement/ten/internal/testbin"
	"github.com/tenement/ten/internal/testfs"
	"github.com/tenement/ten/orchestrator/lockfile"
	"github.com/tenement/ten/orchestrator/release"
	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// TestSelfUpdate replaces a ten-upgrade 0.1.0 with 0.2.0 through the real
// binary: a wrong checksum or signature leaves it untouched.
func TestSelfUpdate(t *testing.T) {
	dir := t.TempDir()
	old := testbin.Build(t, "./cmd/ten-upgrade", testbin.LDFlags("-X github.com/tenement/ten/version.Version=0.1.0"))
	nw := testbin.Build(t, "./cmd/ten-upgrade", testbin.LDFlags("-X github.com/tenement/ten/version.Version=0.2.0"))
	target := filepath.Join(dir, "ten-upgrade")
	copyTo(t, old, target)
	newBytes := testfs.Read(t, nw)
	sum := sha256.Sum256(newBytes)
	pub, priv := rt.NewKey(t)
	sig := filepath.Join(dir, "ten-upgrade.minisig")
	os.WriteFile(sig, rt.Sign(priv, newBytes), 0o644)
	otherPub, _ := rt.NewKey(t)

	run := func(args ...string) (string, error) {
		out, err := exec.Command(target, append([]string{"self-update", "--binary", nw, "--signature", sig}, args...)...).CombinedOutput()
		return string(out), err
	}
	version := func() string {
		out, _ := exec.Command(target, "--version").Output()
		return strings.TrimSpace(string(out))
	}
	if out, err := run("--sha256", strings.Repeat("0", 64), "--public-key", pub.String()); err == nil || !strings.Contains(out, "checksum mismatch") {
		t.Errorf("wrong checksum: %v %s", err, out)
	}
	if out, err := run("--sha256", hex.EncodeToString(sum[:]), "--public-key", otherPub.String()); err == nil || !strings.Contains(out, "signature does not verify") {
		t.Errorf("wrong key: %v %s", err, out)
	}
	if v := version(); v != "ten-upgrade 0.1.0" {
		t.Fatalf("after refused updates: %q", v)
	}
	out, err := run("--sha256", hex.EncodeToString(sum[:]), "--public-key", pub.String())
	if err != nil || !strings.Contains(out, "0.1.0 -> 0.2.0") {
		t.Fatalf("self-update: %v %s", err, out)
	}
	if v := version(); v != "ten-upgrade 0.2.0" {
		t.Errorf("after self-update: %q", v)
	}
	if b, _ := exec.Command(target+".old", "--version").Output(); strings.TrimSpace(string(b)) != "ten-upgrade 0.1.0" {
		t.Errorf("previous binary not kept: %q", b)
	}
}

// TestSelfUpdateFromRelease runs the real ten-upgrade 0.1.0 or 0.2.0
// against releases served by the GitHub fake. A verified release replaces
// it and keeps the old binary as ten-upgrade.old; every refusal leaves it
// byte for byte as it was, with nothing beside it and no work directory
// left in TMPDIR.
func TestSelfUpdateFromRelease(t *testing.T) {
	v1 := testbin.Build(t, "./cmd/ten-upgrade", testbin.LDFlags("-X github.com/tenement/ten/version.Version=0.1.0"))
	v2 := testbin.Build(t, "./cmd/ten-upgrade", testbin.LDFlags("-X github.com/tenement/ten/version.Version=0.2.0"))
	bin1, bin2 := testfs.Read(t, v1), testfs.Read(t, v2)
	pub, priv := rt.NewKey(t)
	_, otherPriv := rt.NewKey(t)
	const repo = "tenement/ten"
	build := func(version string, upgrader []byte, key minisign.PrivateKey) rt.Build {
		return rt.Build{Version: version, Binary: rt.FakeELF(runtime.GOARCH), Upgrader: upgrader, Key: key, Stored: true}
	}
	// rel publishes version with upgrader as its ten-upgrade (none when
	// nil), checksums.txt signed by key.
	rel := func(t *testing.T, version string, upgrader []byte, key minisign.PrivateKey) *rt.Release {
		return &rt.Release{Tag: "v" + version, Name: "ten " + version, Assets: build(version, upgrader, key).Assets(t)}
	}
	// only publishes one release; v1AndV2 publishes 0.1.0 and 0.2.0, each
	// with its own ten-upgrade.
	only := func(version string, upgrader []byte, key minisign.PrivateKey) func(t *testing.T) []*rt.Release {
		return func(t *testing.T) []*rt.Release { return []*rt.Release{rel(t, version, upgrader, key)} }
	}
	v1AndV2 := func(t *testing.T) []*rt.Release {
		return []*rt.Release{rel(t, "0.1.0", bin1, priv), rel(t, "0.2.0", bin2, priv)}
	}
	asset2 := build("0.2.0", nil, priv).AssetName()
	keyID := release.KeyID(pub.ID())

	tests := []struct {
		name      string
		installed []byte
		releases  func(t *testing.T) []*rt.Release
		// config writes repo and public_key under [upgrade] in the
		// working directory's tenement.toml.
		config bool
		// args follow "self-update --target TARGET"; API stands for the
		// fake's API URL and KEY for the pinned public key.
		args     []string
		wantCode int
		want     []string
		// wantVersion is the target's version after an update; empty: the
		// target must be unchanged.
		wantVersion string
	}{
		{
			name:        "latest from [upgrade] repo",
			installed:   bin1,
			releases:    v1AndV2,
			config:      true,
			args:        []string{"--github-api", "API"},
			want:        []string{"ten-upgrade 0.1.0 -> 0.2.0", "release v0.2.0 of " + repo, asset2, "signed by key " + keyID},
			wantVersion: "0.2.0",
		},
		{
			// v0.3.0 holds a ten-upgrade that is not 0.3.0: picking it
			// instead of the asked-for release would fail.
			name:      "explicit --to, JSON report",
			installed: bin1,
			releases: func(t *testing.T) []*rt.Release {
				return []*rt.Release{rel(t, "0.2.0", bin2, priv), rel(t, "0.3.0", bin2, priv)}
			},
			args: []string{"--github-api", "API", "--repo", repo, "--to", "v0.2.0", "--public-key", "KEY", "--json"},
			want: []string{`"from": "0.1.0"`, `"to": "0.2.0"`, `"up_to_date": false`, `"tag": "v0.2.0"`,
				`"repo": "` + repo + `"`, `"asset": "` + asset2 + `"`, `"key_id": "` + keyID + `"`},
			wantVersion: "0.2.0",
		},
		{
			name:      "already up to date",
			installed: bin2,
			releases:  v1AndV2,
			config:    true,
			args:      []string{"--github-api", "API", "--to", "latest"},
			want:      []string{"ten-upgrade 0.2.0", "already up to date", "release v0.2.0", "nothing changed"},
		},
		{
			name:      "downgrade",
			installed: bin2,
			releases:  v1AndV2,
			config:    true,
			args:      []string{"--github-api", "API", "--to", "0.1.0"},
			wantCode:  1,
			want:      []string{"release v0.1.0 of " + repo + " is older than ten-upgrade 0.2.0", "refusing a downgrade"},
		},
		{
			name:      "tampered archive",
			installed: bin1,
			releases: func(t *testing.T) []*rt.Release {
				r := rel(t, "0.2.0", bin2, priv)
				// Another ten-upgrade in the archive, after signing.
				rt.Find(r.Assets, asset2).Data = build("0.2.0", bin1, priv).Artifact(t).Data
				return []*rt.Release{r}
			},
			config:   true,
			args:     []string{"--github-api", "API"},
			wantCode: 1,
			want:     []string{"SHA-256 of " + asset2, "tampered with"},
		},
		{
			name:      "checksums.txt signed by another key",
			installed: bin1,
			releases:  only("0.2.0", bin2, otherPriv),
			config:    true,
			args:      []string{"--github-api", "API"},
			wantCode:  1,
			want:      []string{"checksums.txt: signed by key", "but the pinned public key is " + keyID},
		},
		{
			name:      "no public key",
			installed: bin1,
			releases:  only("0.2.0", bin2, priv),
			args:      []string{"--github-api", "API", "--repo", repo},
			wantCode:  1,
			want:      []string{"refusing to install a release of " + repo + " without a pinned public key", "--public-key"},
		},
		{
			name:      "archive without ten-upgrade",
			installed: bin1,
			releases:  only("0.2.0", nil, priv),
			config:    true,
			args:      []string{"--github-api", "API"},
			wantCode:  1,
			want:      []string{asset2 + ": no file named ten-upgrade in the archive"},
		},
		{
			name:      "tag and binary disagree",
			installed: bin1,
			releases:  only("0.3.0", bin2, priv),
			config:    true,
			args:      []string{"--github-api", "API"},
			wantCode:  1,
			want:      []string{"release v0.3.0 holds ten-upgrade 0.2.0", "disagree"},
		},
		{
			name:      "no repository",
			installed: bin1,
			args:      []string{"--github-api", "API", "--public-key", "KEY"},
			wantCode:  1,
			want:      []string{"needs the repository of the releases", "--repo owner/name", "repo under [upgrade]"},
		},
		{
			name:      "release and bare binary options together",
			installed: bin1,
			config:    true,
			args:      []string{"--to", "latest", "--binary", v2},
			wantCode:  1,
			want:      []string{"either from a release", "or from a bare binary", "not both"},
		},
		{
			name:      "a checksum with a release",
			installed: bin1,
			config:    true,
			args:      []string{"--repo", repo, "--sha256", strings.Repeat("0", 64)},
			wantCode:  1,
			want:      []string{"not both"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The target is written before the cases run in parallel: a
			// fork in another case while it is open for writing would
			// make executing it fail with ETXTBSY.
			dir, cwd, tmp := t.TempDir(), t.TempDir(), t.TempDir()
			target := filepath.Join(dir, "ten-upgrade")
			if err := os.WriteFile(target, tt.installed, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Parallel()
			srv := rt.NewServer(t, repo)
			if tt.releases != nil {
				for _, r := range tt.releases(t) {
					srv.Add(r)
				}
			}
			if tt.config {
				toml := fmt.Sprintf("[upgrade]\nrepo = %q\npublic_key = %q\n", repo, pub.String())
				if err := os.WriteFile(filepath.Join(cwd, "tenement.toml"), []byte(toml), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"self-update", "--target", target}
			for _, a := range tt.args {
				switch a {
				case "API":
					a = srv.APIURL()
				case "KEY":
					a = pub.String()
				}
				args = append(args, a)
			}
			cmd := exec.Command(target, args...)
			cmd.Dir = cwd
			cmd.Env = append(os.Environ(), "TENEMENT_CONFIG=", "GITHUB_TOKEN=", "TMPDIR="+tmp)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code := testbin.ExitCode(t, cmd.Run())
			out := stdout.String() + stderr.String()
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d:\n%s", code, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if slices.Contains(tt.args, "--json") && !json.Valid(stdout.Bytes()) {
				t.Errorf("--json printed no JSON:\n%s", stdout.String())
			}

			wantFiles := []string{"ten-upgrade"}
			got := testfs.Read(t, target)
			if tt.wantVersion == "" {
				if !bytes.Equal(got, tt.installed) {
					t.Errorf("%s changed", target)
				}
			} else {
				wantFiles = append(wantFiles, "ten-upgrade.old")
				if v, err := exec.Command(target, "--version").Output(); err != nil || strings.TrimSpace(string(v)) != "ten-upgrade "+tt.wantVersion {
					t.Errorf("after self-update: --version %q (%v), want ten-upgrade %s", v, err, tt.wantVersion)
				}
				if old, err := os.ReadFile(target + ".old"); err != nil || !bytes.Equal(old, tt.installed) {
					t.Errorf("previous binary not kept as %s.old (%v)", target, err)
				}
			}
			if names := dirNames(t, dir); !slices.Equal(names, wantFiles) {
				t.Errorf("%s holds %q, want %q", dir, names, wantFiles)
			}
			if names := dirNames(t, tmp); len(names) > 0 {
				t.Errorf("left in TMPDIR: %q", names)
			}
		})
	}
}

// dirNames lists dir, without the self-update lock file: it stays (empty)
// once made, as lock files must.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	for _, name := range testfs.Names(t, dir) {
		if name == ".ten-upgrade.lock" {
			if b := testfs.Read(t, filepath.Join(dir, name)); len(b) != 0 {
				t.Errorf("the lock file still names a holder: %q", b)
			}
			continue
		}
		names = append(names, name)
	}
	return names
}

// TestSelfUpdateRefusesWhileAnotherRuns: while the lock beside the target
// is held, self-update exits 2 naming the holder and changes nothing.
func TestSelfUpdateRefusesWhileAnotherRuns(t *testing.T) {
	dir := t.TempDir()
	bin := testbin.Build(t, "./cmd/ten-upgrade", testbin.LDFlags("-X github.com/tenement/ten/version.Version=0.1.0"))
	target := filepath.Join(dir, "ten-upgrade")
	copyTo(t, bin, target)
	unlock, err := lockfile.Acquire(filepath.Join(dir, ".ten-upgrade.lock"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	pub, _ := rt.NewKey(t)
	out, err := exec.Command(target, "self-update", "--binary", bin, "--sha256", strings.Repeat("0", 64), "--signature", bin, "--public-key", pub.String()).CombinedOutput()
	if code := testbin.ExitCode(t, err); code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", code, out)
	}
	if want := fmt.Sprintf("another ten-upgrade (pid %d, started at ", os.Getpid()); !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if strings.Contains(string(out), "checksum mismatch") {
		t.Error("self-update went on to check the binary while locked")
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"ten-upgrade"}) {
		t.Errorf("%s holds %q", dir, names)
	}
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	if _, err := fsutil.CopyFile(src, dst, 0o755); err != nil {
		t.Fatal(err)
	}
}
