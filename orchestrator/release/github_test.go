package release_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"aead.dev/minisign"
	goversion "github.com/hashicorp/go-version"

	"github.com/tenement/ten/orchestrator/release"
	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

const repo = "tenement/ten"

type fixture struct {
	srv  *rt.Server
	pub  minisign.PublicKey
	priv minisign.PrivateKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pub, priv := rt.NewKey(t)
	return &fixture{srv: rt.NewServer(t, repo), pub: pub, priv: priv}
}

// build is a release of a binary whose header fits this machine.
func (f *fixture) build(version string) rt.Build {
	return rt.Build{Version: version, Binary: rt.FakeELF(runtime.GOARCH), Key: f.priv, Changelog: "## [" + version + "]\n### Added\n- things\n"}
}

func (f *fixture) publish(t *testing.T, version string, mod func(r *rt.Release)) *rt.Release {
	t.Helper()
	r := &rt.Release{Tag: "v" + version, Name: "ten " + version, Body: "notes of " + version, Assets: f.build(version).Assets(t)}
	if mod != nil {
		mod(r)
	}
	return f.srv.Add(r)
}

func (f *fixture) source(t *testing.T, mod func(o *release.GitHubOptions)) *release.GitHub {
	t.Helper()
	pub := f.pub
	o := release.GitHubOptions{Repo: repo, To: "latest", APIURL: f.srv.URL, PublicKey: &pub, Token: "secret-token"}
	if mod != nil {
		mod(&o)
	}
	g, err := release.NewGitHub(o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func asReleaseError(t *testing.T, err error) *release.Error {
	t.Helper()
	var re *release.Error
	if !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want a *release.Error", err, err)
	}
	return re
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	f.publish(t, "1.0.0", nil)
	f.publish(t, "1.1.0", nil)
	f.publish(t, "1.2.0-rc.1", func(r *rt.Release) { r.Prerelease = true })
	f.publish(t, "1.3.0", func(r *rt.Release) { r.Draft = true })
	f.publish(t, "1.1.5", func(r *rt.Release) { r.Prerelease = true }) // flagged on GitHub only
	f.srv.Add(&rt.Release{Tag: "nightly", Name: "nightly"})
	// A patch release published after a newer minor: latest is by version,
	// not by date.
	f.publish(t, "1.0.1", nil)

	tests := []struct {
		name    string
		to      string
		pre     bool
		wantTag string
		errHas  []string
	}{
		{"latest skips drafts and pre-releases", "latest", false, "v1.1.0", nil},
		{"empty means latest", "", false, "v1.1.0", nil},
		{"latest with --pre", "latest", true, "v1.2.0-rc.1", nil},
		{"exact tag", "v1.0.0", false, "v1.0.0", nil},
		{"version without v", "1.0.0", false, "v1.0.0", nil},
		{"explicit pre-release", "v1.2.0-rc.1", false, "v1.2.0-rc.1", nil},
		{"draft is not published", "v1.3.0", false, "", []string{"not found", "404"}},
		{"missing version", "v9.9.9", false, "", []string{"release v9.9.9 not found in tenement/ten (404)", "check --to and --repo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := f.source(t, func(o *release.GitHubOptions) { o.To, o.Pre = tt.to, tt.pre })
			rel, err := g.Resolve(context.Background())
			if rt.WantErr(t, err, tt.errHas...) {
				re := asReleaseError(t, err)
				if re.Step != release.StepRelease || re.Unsafe {
					t.Errorf("step %s unsafe %v, want release and not unsafe", re.Step, re.Unsafe)
				}
				return
			}
			if rel.Tag != tt.wantTag {
				t.Errorf("tag = %s, want %s", rel.Tag, tt.wantTag)
			}
			if rel.Source != "github" || rel.Repo != repo {
				t.Errorf("release = %+v", rel)
			}
		})
	}
}

func TestResolveAPIErrors(t *testing.T) {
	t.Run("rate limit", func(t *testing.T) {
		f := newFixture(t)
		f.publish(t, "1.0.0", nil)
		f.srv.SetRateLimited(true)
		_, err := f.source(t, func(o *release.GitHubOptions) { o.Token = "" }).Resolve(context.Background())
		if err == nil {
			t.Fatal("no error")
		}
		msg := err.Error()
		for _, s := range []string{"rate limit exceeded", "60 requests/hour", "set GITHUB_TOKEN"} {
			if !strings.Contains(msg, s) {
				t.Errorf("%q does not mention %q", msg, s)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("message is not one line: %q", msg)
		}
		if re := asReleaseError(t, err); re.Unsafe {
			t.Error("a rate limit is not a verdict on the release")
		}
	})
	t.Run("unknown repository", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.source(t, func(o *release.GitHubOptions) { o.Repo = "tenement/nope"; o.Token = "" }).Resolve(context.Background())
		if err == nil || !strings.Contains(err.Error(), "not found in tenement/nope (404)") || !strings.Contains(err.Error(), "private repository needs GITHUB_TOKEN") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("network", func(t *testing.T) {
		f := newFixture(t)
		url := f.srv.URL
		f.srv.Close()
		_, err := f.source(t, func(o *release.GitHubOptions) { o.APIURL = url }).Resolve(context.Background())
		if err == nil || !strings.Contains(err.Error(), "cannot reach "+url) || !strings.Contains(err.Error(), "--binary FILE") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no releases", func(t *testing.T) {
		f := newFixture(t)
		f.publish(t, "2.0.0-beta.1", func(r *rt.Release) { r.Prerelease = true })
		_, err := f.source(t, nil).Resolve(context.Background())
		if err == nil || !strings.Contains(err.Error(), "has no published release") || !strings.Contains(err.Error(), "--pre") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bad repo name", func(t *testing.T) {
		if _, err := release.NewGitHub(release.GitHubOptions{Repo: "justaname"}); err == nil || !strings.Contains(err.Error(), "owner/name") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestNewGitHubRefusesPathsInToAndRepo: --to and --repo go into API
// paths, so anything but a version (or latest) and GitHub names is
// refused before a request is made, naming the flag.
func TestNewGitHubRefusesPathsInToAndRepo(t *testing.T) {
	for _, tt := range []struct {
		repo, to string
		errHas   string
	}{
		{"tenement/ten", "latest", ""},
		{"tenement/ten", "", ""},
		{"tenement/ten", "v1.2.3", ""},
		{"tenement/ten", "1.2.3-rc.1+build.7", ""},
		{"my_org/ten.go", "v1.0.0", ""},
		{"tenement/ten", "../x", `--to "../x" is not a release version`},
		{"tenement/ten", "v1.0.0/../../../user", "--to"},
		{"tenement/ten", "v1.0.0?x=1", "--to"},
		{"tenement/ten", "v1.0.0%2F..", "--to"},
		{"tenement/ten", "nightly", "--to"},
		{"tenement/ten", "v1.2", ""},
		{"tenement/ten", "1.2.3.4.5x", "not a semantic version"},
		{"../ten", "latest", "not owner/name"},
		{"tenement/..", "latest", "not owner/name"},
		{"tenement/ten/releases", "latest", "not owner/name"},
		{"tenement/t%2Fen", "latest", "not owner/name"},
		{"/ten", "latest", "not owner/name"},
	} {
		_, err := release.NewGitHub(release.GitHubOptions{Repo: tt.repo, To: tt.to})
		switch {
		case tt.errHas == "" && err != nil:
			t.Errorf("repo %q to %q: %v", tt.repo, tt.to, err)
		case tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)):
			t.Errorf("repo %q to %q: err = %v, want one containing %q", tt.repo, tt.to, err, tt.errHas)
		}
	}
}

func TestFetch(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	type want struct {
		step   string
		unsafe bool
		errHas []string
	}
	tests := []struct {
		name    string
		version string
		// mod changes the published release; f and the default assets are
		// given.
		mod  func(t *testing.T, f *fixture, r *rt.Release)
		opts func(o *release.GitHubOptions)
		want *want // nil: success
	}{
		{name: "tar.gz", version: "1.1.0"},
		{name: "zip", version: "1.1.0", mod: func(t *testing.T, f *fixture, r *rt.Release) {
			b := f.build("1.1.0")
			b.Format = "zip"
			r.Assets = b.Assets(t)
		}},
		{name: "bare binary", version: "1.1.0", mod: func(t *testing.T, f *fixture, r *rt.Release) {
			b := f.build("1.1.0")
			b.Format = "binary"
			r.Assets = b.Assets(t)
		}},
		{name: "no asset for this platform", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				b := f.build("1.1.0")
				b.GOARCH = other
				r.Assets = b.Assets(t)
			},
			want: &want{release.StepAsset, true, []string{"no asset for " + runtime.GOOS + "/" + runtime.GOARCH, "ten_1.1.0_" + runtime.GOOS + "_" + other + ".tar.gz"}}},
		{name: "two assets for this platform", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				b := f.build("1.1.0")
				b.Format = "zip"
				r.Assets = f.build("1.1.0").Assets(t, b.Artifact(t))
			},
			want: &want{release.StepAsset, true, []string{"2 assets match", ".tar.gz", ".zip"}}},
		{name: "tampered asset", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				art := rt.Find(r.Assets, f.build("1.1.0").AssetName())
				art.Data = f.build("1.1.0").Artifact(t).Data
				art.Data = append(art.Data[:len(art.Data):len(art.Data)], 0) // one byte more
			},
			want: &want{release.StepChecksum, true, []string{"tampered", "signed checksums"}}},
		{name: "tampered checksums.txt", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				sums := rt.Find(r.Assets, "checksums.txt")
				sums.Data = append([]byte("0000000000000000000000000000000000000000000000000000000000000000  evil\n"), sums.Data...)
			},
			want: &want{release.StepSignature, true, []string{"checksums.txt", "does not match"}}},
		{name: "missing signature", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				r.Assets = slices.DeleteFunc(r.Assets, func(a *rt.Asset) bool { return a.Name == "checksums.txt.minisig" })
			},
			want: &want{release.StepSignature, true, []string{"no checksums.txt.minisig"}}},
		{name: "missing checksums", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				r.Assets = r.Assets[:1]
			},
			want: &want{release.StepSignature, true, []string{"no checksums.txt"}}},
		{name: "signed by another key", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				_, otherKey := rt.NewKey(t)
				rt.Find(r.Assets, "checksums.txt.minisig").Data = rt.Sign(otherKey, rt.Find(r.Assets, "checksums.txt").Data)
			},
			want: &want{release.StepSignature, true, []string{"but the pinned public key is"}}},
		{name: "no pinned key", version: "1.1.0",
			opts: func(o *release.GitHubOptions) { o.PublicKey = nil },
			want: &want{release.StepSignature, false, []string{"without a pinned public key", "public_key", "--public-key"}}},
		{name: "truncated download", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				art := rt.Find(r.Assets, f.build("1.1.0").AssetName())
				art.TruncateAt = len(art.Data) / 2
			},
			want: &want{release.StepDownload, false, []string{"incomplete"}}},
		{name: "over the size cap", version: "1.1.0",
			opts: func(o *release.GitHubOptions) { o.MaxSize = 100 },
			want: &want{release.StepDownload, false, []string{"download cap", "--max-size"}}},
		{name: "archive with ../", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				f.replaceArtifact(t, r, rt.TarGz(t, rt.File{Name: "ten", Body: rt.FakeELF(runtime.GOARCH), Mode: 0o755}, rt.File{Name: "../../etc/cron.d/evil", Body: []byte("x")}))
			},
			want: &want{release.StepBinary, true, []string{"climbs out"}}},
		{name: "archive with a symlink", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				f.replaceArtifact(t, r, rt.TarGz(t, rt.File{Name: "ten", Symlink: "/bin/sh"}))
			},
			want: &want{release.StepBinary, true, []string{"symbolic link"}}},
		{name: "wrong-arch ELF", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				f.replaceArtifact(t, r, rt.TarGz(t, rt.File{Name: "ten", Body: rt.FakeELF(other), Mode: 0o755}))
			},
			want: &want{release.StepBinary, true, []string{"wrong platform"}}},
		{name: "archive without ten", version: "1.1.0",
			mod: func(t *testing.T, f *fixture, r *rt.Release) {
				f.replaceArtifact(t, r, rt.TarGz(t, rt.File{Name: "README.md", Body: []byte("x")}))
			},
			want: &want{release.StepBinary, true, []string{"no file named ten"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.publish(t, tt.version, func(r *rt.Release) {
				if tt.mod != nil {
					tt.mod(t, f, r)
				}
			})
			g := f.source(t, func(o *release.GitHubOptions) {
				o.To = "v" + tt.version
				if tt.opts != nil {
					tt.opts(o)
				}
			})
			ctx := context.Background()
			rel, err := g.Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			cand, err := g.Fetch(ctx, rel, dir)
			if f.srv.LeakedAuth() {
				t.Error("the API token was sent to the download host")
			}
			var errHas []string
			if tt.want != nil {
				errHas = tt.want.errHas
			}
			if rt.WantErr(t, err, errHas...) {
				re := asReleaseError(t, err)
				if re.Step != tt.want.step || re.Unsafe != tt.want.unsafe {
					t.Errorf("failed at %s (unsafe %v), want %s (unsafe %v): %v", re.Step, re.Unsafe, tt.want.step, tt.want.unsafe, err)
				}
				if cand != nil && cand.Binary != "" {
					t.Errorf("a failed fetch returned a binary: %s", cand.Binary)
				}
				return
			}
			var steps []string
			for _, s := range cand.Steps {
				steps = append(steps, s.Name)
			}
			wantSteps := []string{release.StepAsset, release.StepSignature, release.StepDownload, release.StepChecksum, release.StepBinary}
			if !slices.Equal(steps, wantSteps) {
				t.Errorf("steps = %v, want %v", steps, wantSteps)
			}
			if !cand.Signed || cand.KeyID != release.KeyID(f.pub.ID()) {
				t.Errorf("signed %v by %s, want signed by %s", cand.Signed, cand.KeyID, release.KeyID(f.pub.ID()))
			}
			sum, err := release.FileSHA256(cand.File)
			if err != nil || sum != cand.SHA256 {
				t.Errorf("recorded sha256 %s, file has %s (%v)", cand.SHA256, sum, err)
			}
			fi, err := os.Stat(cand.Binary)
			if err != nil || fi.Mode().Perm()&0o100 == 0 {
				t.Errorf("binary %s: %v, mode %v", cand.Binary, err, fi.Mode())
			}
			if rel, err := filepath.Rel(dir, cand.Binary); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("binary %s outside the work dir %s", cand.Binary, dir)
			}
		})
	}
}

// TestFetchBinary: Binary picks which executable of the archive Fetch
// returns; one the archive lacks is refused, naming the archive and the
// binary, and a bare-binary asset is only ever ten.
func TestFetchBinary(t *testing.T) {
	ten := rt.FakeELF(runtime.GOARCH)
	upgrader := append(rt.FakeELF(runtime.GOARCH), "ten-upgrade"...)
	tests := []struct {
		name     string
		format   string
		upgrader []byte // packed as ten-upgrade when set
		binary   string
		want     []byte   // the picked binary's content
		errHas   []string // or the refusal
	}{
		{name: "default is ten", upgrader: upgrader, want: ten},
		{name: "ten", upgrader: upgrader, binary: "ten", want: ten},
		{name: "ten-upgrade from tar.gz", upgrader: upgrader, binary: "ten-upgrade", want: upgrader},
		{name: "ten-upgrade from zip", format: "zip", upgrader: upgrader, binary: "ten-upgrade", want: upgrader},
		{name: "archive without ten-upgrade", binary: "ten-upgrade",
			errHas: []string{"ten_1.1.0_" + runtime.GOOS + "_" + runtime.GOARCH + ".tar.gz", "no file named ten-upgrade"}},
		{name: "bare binary is ten", format: "binary", want: ten},
		{name: "bare binary is not ten-upgrade", format: "binary", binary: "ten-upgrade",
			errHas: []string{"ten_1.1.0_" + runtime.GOOS + "_" + runtime.GOARCH + " is a bare ten binary", "holds no ten-upgrade"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			b := f.build("1.1.0")
			b.Format, b.Upgrader = tt.format, tt.upgrader
			f.publish(t, "1.1.0", func(r *rt.Release) { r.Assets = b.Assets(t) })
			g := f.source(t, func(o *release.GitHubOptions) { o.Binary = tt.binary })
			ctx := context.Background()
			rel, err := g.Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cand, err := g.Fetch(ctx, rel, t.TempDir())
			if rt.WantErr(t, err, tt.errHas...) {
				re := asReleaseError(t, err)
				if re.Step != release.StepBinary || !re.Unsafe {
					t.Errorf("failed at %s (unsafe %v), want binary (unsafe): %v", re.Step, re.Unsafe, err)
				}
				if cand.Binary != "" {
					t.Errorf("a refused fetch returned a binary: %s", cand.Binary)
				}
				return
			}
			got, err := os.ReadFile(cand.Binary)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Fetch picked %s, which is not the wanted binary", cand.Binary)
			}
		})
	}
}

// replaceArtifact swaps the platform archive for data and re-signs the
// checksums, so that only the archive's content is wrong.
func (f *fixture) replaceArtifact(t *testing.T, r *rt.Release, data []byte) {
	t.Helper()
	name := f.build(strings.TrimPrefix(r.Tag, "v")).AssetName()
	art := rt.Find(r.Assets, name)
	art.Data = data
	sums := rt.Checksums(art)
	rt.Find(r.Assets, "checksums.txt").Data = sums
	rt.Find(r.Assets, "checksums.txt.minisig").Data = rt.Sign(f.priv, sums)
}

func TestNotesBetween(t *testing.T) {
	f := newFixture(t)
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0"} {
		f.publish(t, v, nil)
	}
	f.publish(t, "1.2.1-rc.1", func(r *rt.Release) { r.Prerelease = true })
	f.publish(t, "1.1.5", func(r *rt.Release) { r.Draft = true })
	g := f.source(t, nil)
	notes, err := g.NotesBetween(context.Background(), mustV(t, "1.0.0"), mustV(t, "1.2.0"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range notes {
		got = append(got, n.Version+"="+n.Body)
	}
	want := []string{"1.1.0=notes of 1.1.0", "1.2.0=notes of 1.2.0"}
	if !slices.Equal(got, want) {
		t.Errorf("notes = %v, want %v", got, want)
	}
}

func TestLocal(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ten")
	if err := os.WriteFile(bin, rt.FakeELF(runtime.GOARCH), 0o755); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "ten.tar.gz")
	if err := os.WriteFile(archive, rt.TarGz(t, rt.File{Name: "ten", Body: rt.FakeELF(runtime.GOARCH), Mode: 0o755}, rt.File{Name: "CHANGELOG.md", Body: []byte("## [1.0.0]\n")}), 0o644); err != nil {
		t.Fatal(err)
	}
	evil := filepath.Join(dir, "evil.zip")
	if err := os.WriteFile(evil, rt.Zip(t, rt.File{Name: "../ten", Body: []byte("x")}), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path, errHas string
		changelog          bool
	}{
		{"bare binary", bin, "", false},
		{"archive", archive, "", true},
		{"hostile archive", evil, "climbs out", false},
		{"missing", filepath.Join(dir, "nope"), "no such file", false},
		{"directory", dir, "not a regular file", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := release.NewLocal(release.LocalOptions{Path: tt.path})
			ctx := context.Background()
			rel, err := src.Resolve(ctx)
			var cand *release.Candidate
			if err == nil {
				cand, err = src.Fetch(ctx, rel, t.TempDir())
			}
			if rt.WantErr(t, err, tt.errHas) {
				return
			}
			want, _ := release.FileSHA256(tt.path)
			if cand.SHA256 != want || cand.Signed {
				t.Errorf("sha256 %s signed %v, want %s unsigned", cand.SHA256, cand.Signed, want)
			}
			if (cand.Changelog != "") != tt.changelog {
				t.Errorf("changelog = %q", cand.Changelog)
			}
			if cand.Binary == tt.path {
				t.Error("the candidate runs from the original file, not from the checked copy")
			}
		})
	}
}

func mustV(t *testing.T, s string) *goversion.Version {
	t.Helper()
	v, err := release.ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
