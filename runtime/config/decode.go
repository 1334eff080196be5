package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The document is decoded into generic maps first and converted by hand,
// rather than straight into the structs, so that one pass can see every key:
// unknown keys become warnings instead of being dropped, a value of the wrong
// type becomes an error on its own line instead of aborting the decode, and
// the aliases (process, runtime) can be told apart from the current names.

// parser collects diagnostics while a document is decoded and checked.
type parser struct {
	file  string
	lines keyLines
	// origin maps the canonical path of a key, under service.NAME, to the
	// path the file used where the two differ: a service defined as
	// [process.NAME], or isolation set through runtime. Diagnostics then name
	// the key the user actually wrote.
	origin map[string][]string
	diags  []Diagnostic
}

// source returns the path the file used for the canonical path.
func (p *parser) source(path []string) []string {
	for k := len(path); k > 0; k-- {
		if o, ok := p.origin[pathID(path[:k])]; ok {
			return join(o, path[k:])
		}
	}
	return path
}

// line returns the line of path or, when the key is not written in the file
// (a default, or a required key that is missing), of its nearest ancestor.
func (p *parser) line(path []string) int {
	for k := len(path); k > 0; k-- {
		if l, ok := p.lines[pathID(path[:k])]; ok {
			return l
		}
	}
	return 0
}

// key formats the key the file used for the canonical path.
func (p *parser) key(path []string) string {
	return keyString(p.source(path))
}

// add records a diagnostic at path with a message written by the caller.
func (p *parser) add(sev Severity, path []string, msg, hint string) {
	src := p.source(path)
	p.diags = append(p.diags, Diagnostic{
		Severity: sev,
		File:     p.file,
		Line:     p.line(src),
		Key:      keyString(src),
		Message:  msg,
		Hint:     hint,
	})
}

// errorf records an error whose message starts with the key.
func (p *parser) errorf(path []string, hint, format string, args ...any) {
	p.add(SeverityError, path, p.key(path)+": "+fmt.Sprintf(format, args...), hint)
}

// warnf records a warning whose message starts with the key.
func (p *parser) warnf(path []string, hint, format string, args ...any) {
	p.add(SeverityWarning, path, p.key(path)+": "+fmt.Sprintf(format, args...), hint)
}

func (p *parser) unknown(path []string, known []string) {
	p.add(SeverityWarning, path, "unknown key "+p.key(path), suggest(path[len(path)-1], known))
}

func (p *parser) typeError(path []string, want string, v any) {
	hint := ""
	if _, isString := v.(string); isString && want == "an integer" {
		hint = "write the number without quotes; durations are whole seconds"
	}
	p.errorf(path, hint, "expected %s, found %s", want, tomlType(v))
}

// decode converts the generic form of a document into a Config.
func (p *parser) decode(raw map[string]any) *Config {
	c := Default()
	for _, k := range sortedKeys(raw) {
		path, v := []string{k}, raw[k]
		switch k {
		case "settings":
			decodeTable(p, path, v, settingsFields, &c.Settings)
		case "service", "process":
			// Decoded below: the two are merged in a fixed order.
		case "instances":
			p.instances(path, v, c.Instances)
		case "routing":
			decodeTable(p, path, v, routingFields, &c.Routing)
		case "upgrade":
			decodeTable(p, path, v, upgradeFields, &c.Upgrade)
		default:
			p.unknown(path, []string{"settings", "service", "instances", "routing", "upgrade"})
		}
	}
	p.services(raw, c.Services)
	return c
}

// services decodes [service.*] and merges in [process.*], tenement's older
// name for the same tables.
func (p *parser) services(raw map[string]any, dst map[string]*Service) {
	if v, ok := raw["service"]; ok {
		if t, ok := p.table([]string{"service"}, v); ok {
			for _, name := range sortedKeys(t) {
				s, isoSrc := p.service("service", name, t[name])
				if s != nil {
					dst[name] = s
					p.setOrigin([]string{"service", name, "isolation"}, isoSrc)
				}
			}
		}
	}
	v, ok := raw["process"]
	if !ok {
		return
	}
	t, ok := p.table([]string{"process"}, v)
	if !ok {
		return
	}
	for _, name := range sortedKeys(t) {
		path := []string{"process", name}
		s, isoSrc := p.service("process", name, t[name])
		if s == nil {
			continue
		}
		header := "[" + keyString(path) + "]"
		current := "[" + keyString([]string{"service", name}) + "]"
		if prev, dup := dst[name]; dup {
			if diff := serviceDiff(prev, s); len(diff) > 0 {
				p.add(SeverityError, path,
					fmt.Sprintf("%s conflicts with %s (line %d): they differ in %s",
						header, current, p.line([]string{"service", name}), joinList(diff, "and")),
					fmt.Sprintf("keep only %s; %s is the deprecated name of the same table", current, header))
			} else {
				p.add(SeverityWarning, path,
					fmt.Sprintf("%s repeats %s", header, current),
					fmt.Sprintf("delete %s; it is the deprecated name of the same table", header))
			}
			continue
		}
		p.add(SeverityWarning, path,
			fmt.Sprintf("%s is deprecated", header),
			fmt.Sprintf("rename it to %s; its subtables change the same way", current))
		dst[name] = s
		p.setOrigin([]string{"service", name}, path)
		p.setOrigin([]string{"service", name, "isolation"}, isoSrc)
	}
}

// setOrigin records that the file wrote the canonical path as src; a nil
// src records nothing.
func (p *parser) setOrigin(canonical, src []string) {
	if src != nil {
		p.origin[pathID(canonical)] = src
	}
}

// service decodes the table at kind.name, where kind is "service" or
// "process". It returns nil if the value is not a table, and the path of the
// runtime key if that is where the isolation level came from.
func (p *parser) service(kind, name string, v any) (s *Service, isoSrc []string) {
	path := []string{kind, name}
	t, ok := p.table(path, v)
	if !ok {
		return nil, nil
	}
	s = DefaultService()
	rest := maps.Clone(t)
	delete(rest, "runtime")
	decodeFields(p, path, rest, serviceFields, s)
	if rv, ok := t["runtime"]; ok {
		isoSrc = p.runtimeAlias(path, t, rv, s)
	}
	return s, isoSrc
}

// runtimeAlias applies the deprecated runtime key of the service table t at
// path, returning the key's path if it set the isolation level. tenement
// rejected a table with both keys; a runtime that agrees with isolation is
// accepted here because the intent is clear, but one that disagrees has no
// right answer and is an error.
func (p *parser) runtimeAlias(path []string, t map[string]any, rv any, s *Service) []string {
	rpath := join(path, []string{"runtime"})
	var runtime string
	if !p.str(rpath, rv, &runtime) {
		return nil
	}
	iv, hasIsolation := t["isolation"]
	if !hasIsolation {
		s.Isolation = runtime
		p.warnf(rpath, `rename "runtime" to "isolation"`, "runtime is deprecated; it is the old name of isolation")
		return rpath
	}
	if iso, ok := iv.(string); ok && iso != runtime {
		p.errorf(rpath, `delete "runtime"; "isolation" is its current name`,
			"runtime = %q conflicts with isolation = %q", runtime, iso)
		return nil
	}
	p.warnf(rpath, `delete "runtime"; "isolation" already says the same`,
		"runtime is deprecated; it is the old name of isolation")
	return nil
}

// serviceDiff returns the keys whose effective values differ between a and
// b. The JSON names of Service are its TOML keys, so the result can be shown
// to the user as is.
func serviceDiff(a, b *Service) []string {
	fa, fb := jsonFields(a), jsonFields(b)
	var diff []string
	for _, k := range sortedKeys(fa) {
		if !bytes.Equal(fa[k], fb[k]) {
			diff = append(diff, k)
		}
	}
	for _, k := range sortedKeys(fb) {
		if _, ok := fa[k]; !ok {
			diff = append(diff, k)
		}
	}
	slices.Sort(diff)
	return diff
}

func jsonFields(s *Service) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	b, err := json.Marshal(s)
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		panic("config: Service does not round-trip through JSON: " + err.Error())
	}
	return m
}

func (p *parser) instances(path []string, v any, dst map[string][]string) {
	t, ok := p.table(path, v)
	if !ok {
		return
	}
	for _, name := range sortedKeys(t) {
		var ids []string
		if p.strs(join(path, []string{name}), t[name], &ids) {
			dst[name] = ids
		}
	}
}

func (p *parser) mounts(path []string, v any, dst *[]Mount) {
	var elems []any
	switch v := v.(type) {
	case []map[string]any: // [[service.NAME.mounts]]
		for _, e := range v {
			elems = append(elems, e)
		}
	case []any: // mounts = [{...}, ...]
		elems = v
	default:
		p.typeError(path, "an array of tables", v)
		return
	}
	out := []Mount{}
	for _, e := range elems {
		t, ok := e.(map[string]any)
		if !ok {
			p.errorf(path, "", "expected an array of tables, found an array containing %s", tomlType(e))
			return
		}
		var m Mount
		decodeFields(p, path, t, mountFields, &m)
		out = append(out, m)
	}
	*dst = out
}

// A decodeFunc stores the value v of the key at path into its field of dst.
type decodeFunc[T any] func(p *parser, path []string, v any, dst *T)

// A fieldSet describes the keys of one kind of table.
type fieldSet[T any] map[string]decodeFunc[T]

// decodeTable decodes v, which must be a table, into dst.
func decodeTable[T any](p *parser, path []string, v any, fields fieldSet[T], dst *T) {
	if t, ok := p.table(path, v); ok {
		decodeFields(p, path, t, fields, dst)
	}
}

// decodeFields decodes the keys of t into dst, reporting those not in fields.
func decodeFields[T any](p *parser, path []string, t map[string]any, fields fieldSet[T], dst *T) {
	for _, k := range sortedKeys(t) {
		sub := join(path, []string{k})
		if f, ok := fields[k]; ok {
			f(p, sub, t[k], dst)
		} else {
			p.unknown(sub, sortedKeys(fields))
		}
	}
}

// field decodes a key with decode, one of the conversions below, into the
// field of dst that at picks.
func field[T, V any](decode func(*parser, []string, any, *V) bool, at func(*T) *V) decodeFunc[T] {
	return func(p *parser, path []string, v any, dst *T) { decode(p, path, v, at(dst)) }
}

var settingsFields = fieldSet[Settings]{
	"data_dir":              field((*parser).str, func(s *Settings) *string { return &s.DataDir }),
	"health_check_interval": field((*parser).integer, func(s *Settings) *int { return &s.HealthCheckInterval }),
	"max_restarts":          field((*parser).integer, func(s *Settings) *int { return &s.MaxRestarts }),
	"restart_window":        field((*parser).integer, func(s *Settings) *int { return &s.RestartWindow }),
	"backoff_base_ms":       field((*parser).integer, func(s *Settings) *int { return &s.BackoffBaseMS }),
	"backoff_max_ms":        field((*parser).integer, func(s *Settings) *int { return &s.BackoffMaxMS }),
	"log_retention_days":    field((*parser).integer, func(s *Settings) *int { return &s.LogRetentionDays }),
	"log_max_rows":          field((*parser).integer, func(s *Settings) *int { return &s.LogMaxRows }),
	"max_instances":         field((*parser).integer, func(s *Settings) *int { return &s.MaxInstances }),
	"tls": func(p *parser, path []string, v any, s *Settings) {
		decodeTable(p, path, v, tlsFields, &s.TLS)
	},
	"trusted_proxies": field((*parser).strs, func(s *Settings) *[]string { return &s.TrustedProxies }),
}

var tlsFields = fieldSet[TLS]{
	"enabled":      field((*parser).boolean, func(t *TLS) *bool { return &t.Enabled }),
	"acme_email":   field((*parser).str, func(t *TLS) *string { return &t.ACMEEmail }),
	"domain":       field((*parser).str, func(t *TLS) *string { return &t.Domain }),
	"cache_dir":    field((*parser).str, func(t *TLS) *string { return &t.CacheDir }),
	"staging":      field((*parser).boolean, func(t *TLS) *bool { return &t.Staging }),
	"https_port":   field((*parser).integer, func(t *TLS) *int { return &t.HTTPSPort }),
	"http_port":    field((*parser).integer, func(t *TLS) *int { return &t.HTTPPort }),
	"dns_provider": field((*parser).str, func(t *TLS) *string { return &t.DNSProvider }),
}

// serviceFields lists every key tenement v0.2.x accepts in a service table,
// and ten's storage_enforce,
// except runtime, which service handles because it interacts with isolation.
var serviceFields = fieldSet[Service]{
	"command":          field((*parser).str, func(s *Service) *string { return &s.Command }),
	"args":             field((*parser).strs, func(s *Service) *[]string { return &s.Args }),
	"health":           field((*parser).str, func(s *Service) *string { return &s.Health }),
	"env":              field((*parser).strMap, func(s *Service) *map[string]string { return &s.Env }),
	"env_passthrough":  field((*parser).strs, func(s *Service) *[]string { return &s.EnvPassthrough }),
	"max_instances":    field((*parser).integer, func(s *Service) *int { return &s.MaxInstances }),
	"workdir":          field((*parser).str, func(s *Service) *string { return &s.Workdir }),
	"user":             field((*parser).str, func(s *Service) *string { return &s.User }),
	"isolation":        field((*parser).str, func(s *Service) *string { return &s.Isolation }),
	"restart":          field((*parser).str, func(s *Service) *string { return &s.Restart }),
	"idle_timeout":     field((*parser).integer, func(s *Service) *int { return &s.IdleTimeout }),
	"startup_timeout":  field((*parser).integer, func(s *Service) *int { return &s.StartupTimeout }),
	"request_timeout":  field((*parser).integer, func(s *Service) *int { return &s.RequestTimeout }),
	"storage_persist":  field((*parser).boolean, func(s *Service) *bool { return &s.StoragePersist }),
	"storage_quota_mb": field((*parser).integer, func(s *Service) *int { return &s.StorageQuotaMB }),
	"storage_enforce":  field((*parser).boolean, func(s *Service) *bool { return &s.StorageEnforce }),
	"memory_limit_mb":  field((*parser).integer, func(s *Service) *int { return &s.MemoryLimitMB }),
	"cpu_shares":       field((*parser).integer, func(s *Service) *int { return &s.CPUShares }),
	"socket":           field((*parser).str, func(s *Service) *string { return &s.Socket }),
	"port":             field((*parser).integer, func(s *Service) *int { return &s.Port }),
	"image":            field((*parser).str, func(s *Service) *string { return &s.Image }),
	"kernel":           field((*parser).str, func(s *Service) *string { return &s.Kernel }),
	"rootfs":           field((*parser).str, func(s *Service) *string { return &s.Rootfs }),
	"memory_mb":        field((*parser).integer, func(s *Service) *int { return &s.MemoryMB }),
	"vcpus":            field((*parser).integer, func(s *Service) *int { return &s.VCPUs }),
	"vsock_port":       field((*parser).integer, func(s *Service) *int { return &s.VsockPort }),
	"mounts": func(p *parser, path []string, v any, s *Service) {
		p.mounts(path, v, &s.Mounts)
	},
}

var mountFields = fieldSet[Mount]{
	"source":      field((*parser).str, func(m *Mount) *string { return &m.Source }),
	"destination": field((*parser).str, func(m *Mount) *string { return &m.Destination }),
	"readonly":    field((*parser).boolean, func(m *Mount) *bool { return &m.ReadOnly }),
}

var routingFields = fieldSet[Routing]{
	"default":   field((*parser).str, func(r *Routing) *string { return &r.Default }),
	"subdomain": field((*parser).strMap, func(r *Routing) *map[string]string { return &r.Subdomain }),
	"path":      field((*parser).strMap, func(r *Routing) *map[string]string { return &r.Path }),
}

var upgradeFields = fieldSet[Upgrade]{
	"repo":           field((*parser).str, func(u *Upgrade) *string { return &u.Repo }),
	"public_key":     field((*parser).str, func(u *Upgrade) *string { return &u.PublicKey }),
	"strategy":       field((*parser).str, func(u *Upgrade) *string { return &u.Strategy }),
	"proxy":          field((*parser).str, func(u *Upgrade) *string { return &u.Proxy }),
	"binary_path":    field((*parser).str, func(u *Upgrade) *string { return &u.BinaryPath }),
	"health_timeout": field((*parser).integer, func(u *Upgrade) *int { return &u.HealthTimeout }),
	"state_dir":      field((*parser).str, func(u *Upgrade) *string { return &u.StateDir }),
	"keep_backups":   field((*parser).integer, func(u *Upgrade) *int { return &u.KeepBackups }),
}

// The conversions below report a value of the wrong type and leave the
// destination, and so its default, unchanged.

// typed stores v in dst if it is a V, and otherwise reports that the key
// wants what (a TOML type, for the message).
func typed[V any](p *parser, path []string, v any, what string, dst *V) bool {
	x, ok := v.(V)
	if !ok {
		p.typeError(path, what, v)
		return false
	}
	*dst = x
	return true
}

func (p *parser) table(path []string, v any) (map[string]any, bool) {
	var t map[string]any
	ok := typed(p, path, v, "a table", &t)
	return t, ok
}

func (p *parser) str(path []string, v any, dst *string) bool {
	return typed(p, path, v, "a string", dst)
}

func (p *parser) integer(path []string, v any, dst *int) bool {
	var n int64
	if !typed(p, path, v, "an integer", &n) {
		return false
	}
	if int64(int(n)) != n {
		p.errorf(path, "", "%d is out of range", n)
		return false
	}
	*dst = int(n)
	return true
}

func (p *parser) boolean(path []string, v any, dst *bool) bool {
	return typed(p, path, v, "true or false", dst)
}

func (p *parser) strs(path []string, v any, dst *[]string) bool {
	var arr []any
	if !typed(p, path, v, "an array of strings", &arr) {
		return false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			p.errorf(path, "quote every element", "expected an array of strings, found %s at index %d", tomlType(e), i)
			return false
		}
		out = append(out, s)
	}
	*dst = out
	return true
}

func (p *parser) strMap(path []string, v any, dst *map[string]string) bool {
	t, ok := p.table(path, v)
	if !ok {
		return false
	}
	out := make(map[string]string, len(t))
	for _, k := range sortedKeys(t) {
		var s string
		if p.str(join(path, []string{k}), t[k], &s) {
			out[k] = s
		}
	}
	*dst = out
	return true
}

// tomlType names the TOML type of a decoded value.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time" // the decoder's local date and time types
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// joinList formats items as `a, b and c`.
func joinList(items []string, conj string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}
