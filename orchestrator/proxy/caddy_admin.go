package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	procfs "github.com/tenement/ten/internal/proc" // "proc" names the tests' proxy processes
)

// NewCaddyAdmin returns the driver for a Caddy managed through its admin
// API (adminURL, e.g. http://127.0.0.1:2019). It reads the running JSON
// config (GET /config/), rewrites only the upstreams, load balancing and
// active health check of ten's reverse_proxy handler(s) (see
// setCaddyUpstreams), and applies the full config, admin block included,
// with POST /load, which Caddy validates and applies atomically: when it
// refuses, the previous config keeps running. The rest of the config is
// posted back as read (same JSON values; object keys come out sorted).
//
// ten's handlers are, in this order of precedence: those inside the object
// with "@id" WithRouteID; else those routing to an address of WithMatch, of
// the Switch argument or of the last Current; else the only reverse_proxy
// handler of the config.
//
// Changes made through the admin API are not written to the Caddyfile;
// use NewCaddyfile when Caddy is run from a Caddyfile that is reloaded by
// other means.
func NewCaddyAdmin(adminURL string, opts ...Option) Driver {
	return newCaddyAdmin(adminURL, newSettings(opts))
}

func newCaddyAdmin(adminURL string, s settings) *caddyAdmin {
	return &caddyAdmin{url: strings.TrimRight(adminURL, "/"), s: s}
}

type caddyAdmin struct {
	url  string
	s    settings
	mu   sync.Mutex
	last []string // upstreams seen or set last; they identify ten's handler
}

func (c *caddyAdmin) Name() string { return NameCaddy }

// Warnings implements Warner.
func (c *caddyAdmin) Warnings() []string { return caddyWarnings() }

func (c *caddyAdmin) Current(ctx context.Context) ([]string, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	raw, cfg, err := c.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	hs, err := c.find(cfg, nil)
	if err != nil {
		return nil, nil, err
	}
	ups := dialsOf(hs[0].obj)
	c.last = ups
	return ups, raw, nil
}

func (c *caddyAdmin) Switch(ctx context.Context, ups []string) error {
	if err := checkUpstreams(ups); err != nil {
		return err
	}
	if err := checkHealthURI(c.s.healthURI); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, cfg, err := c.get(ctx)
	if err != nil {
		return err
	}
	hs, err := c.find(cfg, ups)
	if err != nil {
		return err
	}
	for _, h := range hs {
		setCaddyUpstreams(h.obj, ups, c.s)
	}
	body, err := marshalJSON(cfg)
	if err != nil {
		return fmt.Errorf("render the caddy config: %w", err)
	}
	if c.s.render != nil {
		body = c.s.render(body)
	}
	if err := c.load(ctx, body); err != nil {
		return err
	}
	c.last = append([]string(nil), ups...)
	paths := make([]string, len(hs))
	for i, h := range hs {
		paths[i] = h.path
	}
	c.s.logger.Info("caddy: switched upstreams", "admin", c.url, "upstreams", ups, "handlers", paths)
	return nil
}

func (c *caddyAdmin) Restore(ctx context.Context, snapshot []byte) error {
	if !json.Valid(snapshot) {
		return errors.New("caddy: the snapshot to restore is not JSON; pass the snapshot Current returned")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(ctx, snapshot); err != nil {
		return err
	}
	var cfg any
	if err := decodeJSON(snapshot, &cfg); err == nil {
		if hs, err := c.find(cfg, nil); err == nil {
			c.last = dialsOf(hs[0].obj)
		}
	}
	c.s.logger.Info("caddy: restored the previous config", "admin", c.url)
	return nil
}

// get returns the running config, raw and decoded.
func (c *caddyAdmin) get(ctx context.Context) ([]byte, any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/config/", nil)
	if err != nil {
		return nil, nil, fmt.Errorf("caddy admin API URL %q: %w", c.url, err)
	}
	resp, err := c.s.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("caddy admin API at %s is not reachable: %w; is caddy running with its admin endpoint there (global option admin)?", c.url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("caddy admin API at %s: reading the config: %w", c.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("caddy admin API at %s: GET /config/ answered %s: %s", c.url, resp.Status, adminError(raw))
	}
	var cfg any
	if err := decodeJSON(raw, &cfg); err != nil {
		return nil, nil, fmt.Errorf("caddy admin API at %s: the config is not JSON: %w", c.url, err)
	}
	if cfg == nil {
		return nil, nil, fmt.Errorf("caddy at %s runs no config; load one with a reverse_proxy to ten first", c.url)
	}
	return raw, cfg, nil
}

// load POSTs a full config to /load. Caddy applies it atomically: when it
// answers with an error, the previous config is still running.
func (c *caddyAdmin) load(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/load", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("caddy admin API URL %q: %w", c.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.s.client.Do(req)
	if err != nil {
		return fmt.Errorf("caddy admin API at %s: POST /load failed: %w; the new config may not be active: check GET %s/config/", c.url, err, c.url)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: caddy admin API at %s refused the config (%s): %s; the previous config is still active",
			ErrRejected, c.url, resp.Status, adminError(msg))
	}
	return nil
}

// adminError extracts {"error": "..."} from an admin API answer.
func adminError(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return snippet(b)
}

// rpHandler is a reverse_proxy handler inside the decoded config.
type rpHandler struct {
	obj  map[string]any
	path string
}

// find returns ten's reverse_proxy handlers (see NewCaddyAdmin).
func (c *caddyAdmin) find(cfg any, target []string) ([]rpHandler, error) {
	if c.s.routeID != "" {
		scope := findID(cfg, c.s.routeID)
		if scope == nil {
			return nil, fmt.Errorf(`caddy at %s: no object with "@id": %q in the config; add it to ten's route or drop the route id option`, c.url, c.s.routeID)
		}
		var hs []rpHandler
		walkReverseProxies(scope, "@id:"+c.s.routeID, &hs)
		if len(hs) == 0 {
			return nil, fmt.Errorf(`caddy at %s: the object with "@id": %q holds no reverse_proxy handler`, c.url, c.s.routeID)
		}
		return hs, nil
	}
	var all []rpHandler
	walkReverseProxies(cfg, "", &all)
	if len(all) == 0 {
		return nil, fmt.Errorf("caddy at %s: the config has no reverse_proxy handler; add one that proxies to ten (see examples/caddy/Caddyfile)", c.url)
	}
	known := append(append(append([]string(nil), c.s.match...), target...), c.last...)
	var hs []rpHandler
	for _, h := range all {
		for _, d := range dialsOf(h.obj) {
			if containsAddr(known, d) {
				hs = append(hs, h)
				break
			}
		}
	}
	if len(hs) > 0 {
		return hs, nil
	}
	if len(all) == 1 {
		return all, nil
	}
	var desc []string
	for _, h := range all {
		desc = append(desc, fmt.Sprintf("%s -> %s", h.path, strings.Join(dialsOf(h.obj), " ")))
	}
	which := "none is known to be ten's"
	if len(known) > 0 {
		which = "none routes to " + strings.Join(known, ", ")
	}
	return nil, fmt.Errorf(`caddy at %s: %d reverse_proxy handlers and %s; say which is ten's: give its route "@id": "ten" (route id option) or pass ten's current address (match option); found: %s`,
		c.url, len(all), which, strings.Join(desc, "; "))
}

// walkReverseProxies collects the reverse_proxy handlers under v in
// document order (object keys sorted), not descending into one.
func walkReverseProxies(v any, path string, out *[]rpHandler) {
	switch t := v.(type) {
	case map[string]any:
		if t["handler"] == "reverse_proxy" {
			*out = append(*out, rpHandler{obj: t, path: path})
			return
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkReverseProxies(t[k], p, out)
		}
	case []any:
		for i, e := range t {
			walkReverseProxies(e, path+"["+strconv.Itoa(i)+"]", out)
		}
	}
}

// findID returns the object whose "@id" is id.
func findID(v any, id string) any {
	switch t := v.(type) {
	case map[string]any:
		if s, ok := t["@id"].(string); ok && s == id {
			return t
		}
		for _, e := range t {
			if r := findID(e, id); r != nil {
				return r
			}
		}
	case []any:
		for _, e := range t {
			if r := findID(e, id); r != nil {
				return r
			}
		}
	}
	return nil
}

func dialsOf(h map[string]any) []string {
	list, _ := h["upstreams"].([]any)
	var out []string
	for _, u := range list {
		if m, ok := u.(map[string]any); ok {
			if d, ok := m["dial"].(string); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

// setCaddyUpstreams rewrites a reverse_proxy handler for ups. The driver
// owns load_balancing.selection_policy, try_duration and try_interval and
// health_checks.active.uri, interval and timeout: with several upstreams
// they are set for fail-over in order (the "first" available upstream; one
// that refuses or fails the active health check is skipped until it passes
// again, and a request keeps being retried for try_duration), with one
// they are removed. Everything else in the handler, including other
// settings of kept upstreams, stays.
//
// Passive health checks are deliberately not used: Caddy (checked with
// 2.6.2) closes a request's body when the connection to the first upstream
// fails, so the retried request with a body fails on the next upstream
// too, and a passive check would then mark that healthy upstream down.
func setCaddyUpstreams(h map[string]any, ups []string, s settings) {
	old := map[string]map[string]any{}
	list, _ := h["upstreams"].([]any)
	for _, u := range list {
		if m, ok := u.(map[string]any); ok {
			if d, ok := m["dial"].(string); ok {
				old[normAddr(d)] = m
			}
		}
	}
	next := make([]any, 0, len(ups))
	for _, u := range ups {
		m := map[string]any{}
		for k, v := range old[normAddr(u)] {
			m[k] = v
		}
		m["dial"] = u
		next = append(next, m)
	}
	h["upstreams"] = next

	lb, _ := h["load_balancing"].(map[string]any)
	hc, _ := h["health_checks"].(map[string]any)
	var active map[string]any
	if hc != nil {
		active, _ = hc["active"].(map[string]any)
	}
	if len(ups) > 1 {
		if lb == nil {
			lb = map[string]any{}
		}
		lb["selection_policy"] = map[string]any{"policy": "first"}
		lb["try_duration"] = nanos(s.tryDuration)
		lb["try_interval"] = nanos(s.tryInterval)
		h["load_balancing"] = lb
		if hc == nil {
			hc = map[string]any{}
		}
		if active == nil {
			active = map[string]any{}
		}
		active["uri"] = s.healthURI
		active["interval"] = nanos(s.healthInterval)
		active["timeout"] = nanos(s.healthTimeout)
		hc["active"] = active
		h["health_checks"] = hc
		return
	}
	if lb != nil {
		dropKeys(h, "load_balancing", lb, "selection_policy", "try_duration", "try_interval")
	}
	if active != nil {
		dropKeys(hc, "active", active, "uri", "interval", "timeout")
		dropKeys(h, "health_checks", hc)
	}
}

// dropKeys deletes keys from m, and then m, found in parent under name,
// once it is empty, so that what the driver set leaves no trace.
func dropKeys(parent map[string]any, name string, m map[string]any, keys ...string) {
	for _, k := range keys {
		delete(m, k)
	}
	if len(m) == 0 {
		delete(parent, name)
	}
}

func nanos(d time.Duration) json.Number { return json.Number(strconv.FormatInt(int64(d), 10)) }

// decodeJSON keeps numbers as written (no float64 rounding).
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// caddyWarnings: Caddy (2.6 and later, on Linux) gives every loaded config
// its own SO_REUSEPORT listening socket and closes the previous one once
// the new config runs; connections the kernel queued on the old socket in
// between are reset. Linux 5.14+ hands them to the new socket instead
// when net.ipv4.tcp_migrate_req is 1.
func caddyWarnings() []string {
	v, err := procfs.Sysctl("net.ipv4.tcp_migrate_req")
	switch {
	case err == nil && v == "0":
		return []string{"every caddy config change can reset a few new connections (caddy swaps its SO_REUSEPORT listening socket); set `sysctl -w net.ipv4.tcp_migrate_req=1` (and in /etc/sysctl.d/) so the kernel hands them over to the new socket"}
	case errors.Is(err, procfs.ErrNoSysctl):
		return []string{"every caddy config change can reset a few new connections (caddy swaps its SO_REUSEPORT listening socket) and this kernel lacks net.ipv4.tcp_migrate_req (Linux 5.14+) to prevent it"}
	}
	return nil
}
