// Package releasetest serves a fake GitHub release API for tests: enough of
// the REST API for go-github to list releases, get one by tag and download
// assets through GitHub's redirect to a storage URL. It also builds
// GoReleaser-style assets (archives, checksums.txt, minisign signatures).
package releasetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

// Release is one release served by the fake.
type Release struct {
	Tag        string
	Name       string
	Body       string
	Draft      bool
	Prerelease bool
	Assets     []*Asset

	id int64
}

// Asset is one release file.
type Asset struct {
	Name string
	Data []byte
	// TruncateAt > 0 announces the full length but sends only the first
	// TruncateAt bytes, then closes the connection.
	TruncateAt int
	// Size overrides the size the API reports (0: len(Data)).
	Size int64

	id int64
}

// Server is a fake GitHub API (served under /api/v3/, like GitHub
// Enterprise) plus a fake storage host for asset downloads.
type Server struct {
	*httptest.Server
	Owner, Repo string

	// rateLimited makes every API call fail with GitHub's 403 rate-limit
	// response.
	rateLimited atomic.Bool
	// leakedAuth records a download request that carried an Authorization
	// header: the token must never reach the storage host.
	leakedAuth atomic.Bool

	mu        sync.Mutex
	releases  []*Release
	nextID    int64
	downloads []string
}

// NewServer starts a fake for the repository "owner/name". It is closed when
// the test ends.
func NewServer(t testing.TB, repo string) *Server {
	owner, name, _ := strings.Cut(repo, "/")
	s := &Server{Owner: owner, Repo: name, nextID: 100}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// APIURL is the base URL to give go-github (--github-api).
func (s *Server) APIURL() string { return s.URL + "/api/v3/" }

// Add publishes a release and returns it.
func (s *Server) Add(r *Release) *Release {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	r.id = s.nextID
	for _, a := range r.Assets {
		s.nextID++
		a.id = s.nextID
	}
	s.releases = append(s.releases, r)
	return r
}

// SetRateLimited switches GitHub's rate limit on or off.
func (s *Server) SetRateLimited(on bool) { s.rateLimited.Store(on) }

// LeakedAuth reports whether a download request carried an Authorization
// header.
func (s *Server) LeakedAuth() bool { return s.leakedAuth.Load() }

// Downloads lists the asset names downloaded so far.
func (s *Server) Downloads() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.downloads...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rest, ok := strings.CutPrefix(r.URL.Path, "/storage/"); ok {
		s.serveDownload(w, r, rest)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/api/v3/repos/"+s.Owner+"/"+s.Repo+"/releases")
	if !ok || r.Method != http.MethodGet {
		notFound(w)
		return
	}
	if s.rateLimited.Load() {
		w.Header().Set("X-RateLimit-Limit", "60")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"API rate limit exceeded for 192.0.2.1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`)
		return
	}
	w.Header().Set("X-RateLimit-Limit", "60")
	w.Header().Set("X-RateLimit-Remaining", "59")
	switch {
	case path == "" || path == "/":
		s.serveList(w, r)
	case strings.HasPrefix(path, "/tags/"):
		tag := strings.TrimPrefix(path, "/tags/")
		for _, rel := range s.releases {
			if rel.Tag == tag && !rel.Draft {
				writeJSON(w, s.apiRelease(rel))
				return
			}
		}
		notFound(w)
	case strings.HasPrefix(path, "/assets/"):
		id, _ := strconv.ParseInt(strings.TrimPrefix(path, "/assets/"), 10, 64)
		a := s.asset(id)
		if a == nil {
			notFound(w)
			return
		}
		if r.Header.Get("Accept") == "application/octet-stream" {
			http.Redirect(w, r, s.storageURL(a), http.StatusFound)
			return
		}
		writeJSON(w, s.apiAsset(a))
	default:
		notFound(w)
	}
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	// Newest first, as GitHub lists them.
	list := append([]*Release(nil), s.releases...)
	sort.Slice(list, func(i, j int) bool { return list[i].id > list[j].id })
	perPage, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if perPage <= 0 {
		perPage = 30
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page <= 0 {
		page = 1
	}
	start := (page - 1) * perPage
	end := min(start+perPage, len(list))
	if start > len(list) {
		start = len(list)
	}
	if end < len(list) {
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?page=%d&per_page=%d>; rel="next"`, s.URL, r.URL.Path, page+1, perPage))
	}
	out := make([]*github.RepositoryRelease, 0, end-start)
	for _, rel := range list[start:end] {
		out = append(out, s.apiRelease(rel))
	}
	writeJSON(w, out)
}

func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request, rest string) {
	if r.Header.Get("Authorization") != "" {
		s.leakedAuth.Store(true)
	}
	idText, _, _ := strings.Cut(rest, "/")
	id, _ := strconv.ParseInt(idText, 10, 64)
	a := s.asset(id)
	if a == nil {
		http.NotFound(w, r)
		return
	}
	s.downloads = append(s.downloads, a.Name)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(a.Data)))
	if a.TruncateAt > 0 && a.TruncateAt < len(a.Data) {
		w.Write(a.Data[:a.TruncateAt]) //nolint:errcheck // the test wants a cut connection
		w.(http.Flusher).Flush()
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
		return
	}
	w.Write(a.Data) //nolint:errcheck // client gone
}

func (s *Server) asset(id int64) *Asset {
	for _, rel := range s.releases {
		for _, a := range rel.Assets {
			if a.id == id {
				return a
			}
		}
	}
	return nil
}

func (s *Server) apiRelease(rel *Release) *github.RepositoryRelease {
	published := github.Timestamp{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rel.id) * time.Hour)}
	out := &github.RepositoryRelease{
		ID:          github.Int64(rel.id),
		TagName:     github.String(rel.Tag),
		Name:        github.String(rel.Name),
		Body:        github.String(rel.Body),
		Draft:       github.Bool(rel.Draft),
		Prerelease:  github.Bool(rel.Prerelease),
		PublishedAt: &published,
		HTMLURL:     github.String(fmt.Sprintf("%s/%s/%s/releases/tag/%s", s.URL, s.Owner, s.Repo, rel.Tag)),
	}
	for _, a := range rel.Assets {
		out.Assets = append(out.Assets, s.apiAsset(a))
	}
	return out
}

func (s *Server) apiAsset(a *Asset) *github.ReleaseAsset {
	size := a.Size
	if size == 0 {
		size = int64(len(a.Data))
	}
	return &github.ReleaseAsset{
		ID:                 github.Int64(a.id),
		Name:               github.String(a.Name),
		Size:               github.Int(int(size)),
		ContentType:        github.String("application/octet-stream"),
		URL:                github.String(fmt.Sprintf("%s/api/v3/repos/%s/%s/releases/assets/%d", s.URL, s.Owner, s.Repo, a.id)),
		BrowserDownloadURL: github.String(s.storageURL(a)),
	}
}

// storageURL is where an asset is downloaded from. The name is escaped, as
// GitHub does, so that any name (even one with "../") reaches the client.
func (s *Server) storageURL(a *Asset) string {
	return fmt.Sprintf("%s/storage/%d/%s", s.URL, a.id, url.PathEscape(a.Name))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v) //nolint:errcheck // client gone
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`)
}
