package proxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tenement/ten/internal/fsutil"
)

// NewCaddyfile returns the driver for a Caddy run from the Caddyfile at
// path. It rewrites the reverse_proxy directive(s) between the lines
//
//	# ten-upgrade:begin
//	# ten-upgrade:end
//
// (every such region of the file; see examples/caddy/Caddyfile), checks the
// result with `caddy validate --adapter caddyfile` on a temporary copy next
// to the file, puts it in place atomically and runs `caddy reload`. When
// validation or the reload fails, the file is left (or put back) as it was
// and the running config is unchanged.
//
// Inside the reverse_proxy block the driver owns the upstreams (arguments
// and `to`), lb_policy, lb_try_duration, lb_try_interval, health_uri,
// health_interval and health_timeout (see setCaddyUpstreams); other
// subdirectives are kept as written.
func NewCaddyfile(path string, opts ...Option) Driver {
	return newCaddyfile(path, newSettings(opts))
}

func newCaddyfile(path string, s settings) *caddyfileDriver {
	c := &caddyfileDriver{configFile{path: path, s: s, bin: findBinary(s.binary, "caddy"),
		what: "caddyfile", proxy: "caddy", logKey: "caddyfile", restored: "restored the previous Caddyfile"}}
	c.format = c
	return c
}

type caddyfileDriver struct{ configFile }

func (c *caddyfileDriver) Name() string { return NameCaddy }

// Warnings implements Warner.
func (c *caddyfileDriver) Warnings() []string { return caddyWarnings() }

func (c *caddyfileDriver) check(ups []string) error {
	if err := checkUpstreams(ups); err != nil {
		return err
	}
	return checkHealthURI(c.s.healthURI)
}

func (c *caddyfileDriver) upstreams(data []byte) ([]string, error) {
	ds, err := parseCaddyfile(splitLines(string(data)))
	if err != nil {
		return nil, err
	}
	var ups []string
	for _, u := range ds[0].ups {
		ups = append(ups, strings.TrimPrefix(u, "http://"))
	}
	return ups, nil
}

func (c *caddyfileDriver) rewrite(old string, ups []string) (string, error) {
	return rewriteCaddyfile(old, ups, c.s)
}

func (c *caddyfileDriver) read() ([]byte, error) {
	data, err := os.ReadFile(c.path)
	if err != nil {
		return nil, fmt.Errorf("read the Caddyfile: %w", err)
	}
	return data, nil
}

// apply validates next on a temporary copy, renames it over the Caddyfile
// and reloads caddy; when the reload fails, old is put back.
func (c *caddyfileDriver) apply(ctx context.Context, old, next []byte) error {
	path := resolve(c.path)
	staged, err := fsutil.Stage(path, next)
	if err != nil {
		return err
	}
	if out, err := run(ctx, c.bin, "validate", "--config", staged.Path, "--adapter", "caddyfile"); err != nil {
		staged.Discard()
		if ctx.Err() != nil {
			return fmt.Errorf("caddy validate: %w; %s is unchanged", ctx.Err(), c.path)
		}
		if errors.Is(err, errNoBinary) {
			return fmt.Errorf("%w: %v; %s is unchanged", ErrRejected, err, c.path)
		}
		return fmt.Errorf("%w: caddy validate refused the new %s: %s; the file is unchanged and the previous config is still active",
			ErrRejected, c.path, caddyError(out))
	}
	if err := staged.Commit(); err != nil {
		return err
	}
	args := []string{"reload", "--config", path, "--adapter", "caddyfile"}
	if c.s.adminAddr != "" {
		args = append(args, "--address", c.s.adminAddr)
	}
	out, err := run(ctx, c.bin, args...)
	if err == nil {
		return nil
	}
	if werr := writeFileAtomic(path, old); werr != nil {
		return fmt.Errorf("caddy reload failed: %s; putting the previous %s back failed too: %v; restore it by hand from the upgrade journal, then run caddy reload", caddyError(out), c.path, werr)
	}
	return fmt.Errorf("%w: caddy reload refused the new %s: %s; the file was put back and the previous config is still active (if caddy is not running, start it)",
		ErrRejected, c.path, caddyError(out))
}

// caddyError picks the "Error: ..." line out of caddy's output (the rest
// is JSON log lines), else returns the end of the output.
func caddyError(out string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "Error:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "Error:"))
		}
	}
	if len(out) > 600 {
		out = "..." + out[len(out)-600:]
	}
	return out
}

// Caddyfile subdirectives of reverse_proxy the driver owns.
var caddyManaged = map[string]bool{
	"to": true, "lb_policy": true, "lb_try_duration": true,
	"lb_try_interval": true, "health_uri": true, "health_interval": true,
	"health_timeout": true,
}

// cfDirective is one reverse_proxy directive inside the markers.
type cfDirective struct {
	start, end int // first and last line (the closing brace when a block)
	block      bool
	matcher    string
	ups        []string
	kept       []string // lines of the block the driver does not own
	unit       string   // indentation step seen inside the block
}

// splitLines splits on "\n"; a "\r" before it stays on the line.
func splitLines(s string) []string { return strings.Split(s, "\n") }

// parseCaddyfile finds the reverse_proxy directives between the markers.
func parseCaddyfile(lines []string) ([]cfDirective, error) {
	var out []cfDirective
	begin := -1
	regions := 0
	for i := 0; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(t, MarkerBegin):
			if begin >= 0 {
				return nil, fmt.Errorf("line %d: %q inside the region opened on line %d; close it with %q first", i+1, MarkerBegin, begin+1, MarkerEnd)
			}
			begin = i
			regions++
		case strings.HasPrefix(t, MarkerEnd):
			if begin < 0 {
				return nil, fmt.Errorf("line %d: %q without %q before it", i+1, MarkerEnd, MarkerBegin)
			}
			begin = -1
		case begin >= 0:
			toks := tokens(lines[i])
			if len(toks) == 0 || toks[0] != "reverse_proxy" {
				continue
			}
			d, err := parseReverseProxy(lines, i)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
			i = d.end
		}
	}
	if begin >= 0 {
		return nil, fmt.Errorf("line %d: %q is never closed with %q", begin+1, MarkerBegin, MarkerEnd)
	}
	if regions == 0 {
		return nil, fmt.Errorf("no %q / %q markers: put these two comment lines around ten's reverse_proxy directive, as in examples/caddy/Caddyfile", MarkerBegin, MarkerEnd)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no reverse_proxy directive between %q and %q", MarkerBegin, MarkerEnd)
	}
	return out, nil
}

func parseReverseProxy(lines []string, i int) (cfDirective, error) {
	d := cfDirective{start: i, end: i}
	args := tokens(lines[i])[1:]
	if n := len(args); n > 0 && args[n-1] == "{" {
		d.block = true
		args = args[:n-1]
	}
	for _, a := range args {
		if a == "{" || a == "}" {
			return d, fmt.Errorf("line %d: cannot rewrite a reverse_proxy block opened or closed mid-line; put { at the end of the line and } on its own line", i+1)
		}
	}
	if len(args) > 0 && (strings.HasPrefix(args[0], "@") || strings.HasPrefix(args[0], "/") || args[0] == "*") {
		d.matcher, args = args[0], args[1:]
	}
	d.ups = append(d.ups, args...)
	if !d.block {
		if len(d.ups) == 0 {
			return d, fmt.Errorf("line %d: reverse_proxy without upstreams", i+1)
		}
		return d, nil
	}
	depth := 1
	skip := 0 // depth at which a skipped (owned) subdirective's block ends
	for j := i + 1; j < len(lines); j++ {
		t := strings.TrimSpace(lines[j])
		if strings.HasPrefix(t, MarkerEnd) || strings.HasPrefix(t, MarkerBegin) {
			break
		}
		toks := tokens(lines[j])
		before := depth
		for _, tok := range toks {
			switch tok {
			case "{":
				depth++
			case "}":
				depth--
			}
		}
		if depth == 0 {
			d.end = j
			if len(d.ups) == 0 {
				return d, fmt.Errorf("line %d: reverse_proxy without upstreams", i+1)
			}
			return d, nil
		}
		switch {
		case skip > 0:
			if depth <= skip {
				skip = 0
			}
			continue
		case before == 1 && len(toks) > 0 && caddyManaged[toks[0]]:
			if toks[0] == "to" {
				d.ups = append(d.ups, toks[1:]...)
			}
			if depth > before {
				skip = before
			}
			continue
		}
		if d.unit == "" && before == 1 && len(toks) > 0 {
			if in, base := indentOf(lines[j]), indentOf(lines[i]); strings.HasPrefix(in, base) && len(in) > len(base) {
				d.unit = in[len(base):]
			}
		}
		d.kept = append(d.kept, lines[j])
	}
	return d, fmt.Errorf("line %d: the reverse_proxy block is not closed before %q", i+1, MarkerEnd)
}

// rewriteCaddyfile returns the Caddyfile with every marked reverse_proxy
// routed to ups.
func rewriteCaddyfile(text string, ups []string, s settings) (string, error) {
	lines := splitLines(text)
	ds, err := parseCaddyfile(lines)
	if err != nil {
		return "", err
	}
	var out []string
	prev := 0
	for _, d := range ds {
		out = append(out, lines[prev:d.start]...)
		out = append(out, renderReverseProxy(lines, d, ups, s)...)
		prev = d.end + 1
	}
	out = append(out, lines[prev:]...)
	return strings.Join(out, "\n"), nil
}

func renderReverseProxy(lines []string, d cfDirective, ups []string, s settings) []string {
	first := lines[d.start]
	eol := ""
	if strings.HasSuffix(first, "\r") {
		eol = "\r"
	}
	indent := indentOf(first)
	unit := d.unit
	if unit == "" {
		unit = "\t"
		if indent != "" && strings.Trim(indent, " ") == "" {
			unit = "    "
		}
	}
	head := indent + "reverse_proxy"
	if d.matcher != "" {
		head += " " + d.matcher
	}
	head += " " + strings.Join(ups, " ")
	var body []string
	if len(ups) > 1 {
		for _, l := range []string{
			"lb_policy first",
			"lb_try_duration " + caddyDuration(s.tryDuration),
			"lb_try_interval " + caddyDuration(s.tryInterval),
			"health_uri " + s.healthURI,
			"health_interval " + caddyDuration(s.healthInterval),
			"health_timeout " + caddyDuration(s.healthTimeout),
		} {
			body = append(body, indent+unit+l+eol)
		}
	}
	body = append(body, d.kept...)
	if len(body) == 0 {
		return []string{head + eol}
	}
	closing := indent + "}" + eol
	if d.block {
		closing = lines[d.end]
	}
	out := append([]string{head + " {" + eol}, body...)
	return append(out, closing)
}

func caddyDuration(d time.Duration) string { return d.String() }
