package client

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/logs"
)

// WritePS prints instances as `ten ps` does: a header and one aligned row
// per instance, or "No running instances". Strings from the server are
// passed through Printable.
func WritePS(w io.Writer, instances []api.Instance) error {
	if len(instances) == 0 {
		_, err := fmt.Fprintln(w, "No running instances")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tLISTEN\tUPTIME\tIDLE\tHEALTH\tWEIGHT\tLAST EXIT\tSTORAGE")
	for _, in := range instances {
		listen, uptime := in.Listen, FormatDuration(in.UptimeSecs)
		if listen == "" {
			listen, uptime = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			Printable(in.ID), Printable(listen), uptime, FormatDuration(in.IdleSecs), Printable(healthColumn(in)), in.Weight,
			Printable(lastExitColumn(in)), storageColumn(in))
	}
	return tw.Flush()
}

// healthColumn shows the health of a running instance, and the state of
// one that is not running (idle, restarting, failed...), which says more.
func healthColumn(in api.Instance) string {
	switch in.State {
	case "", "running", "unhealthy":
		if in.Health == "" {
			return "unknown"
		}
		return in.Health
	default:
		return in.State
	}
}

// lastExitColumn says how the last process ended ("oom" for a kill at the
// memory limit), with the count of OOM kills when there were several.
func lastExitColumn(in api.Instance) string {
	switch {
	case in.LastExit == "":
		return "-"
	case in.OOMKills > 1:
		return fmt.Sprintf("%s (%d oom)", in.LastExit, in.OOMKills)
	}
	return in.LastExit
}

// storageColumn is the data directory's usage, "/quota" when there is
// one, and "OVER" past it.
func storageColumn(in api.Instance) string {
	s := FormatBytes(in.StorageUsedBytes)
	if in.StorageQuotaBytes > 0 {
		s += "/" + FormatBytes(in.StorageQuotaBytes)
	}
	if in.StorageOverQuota {
		s += " OVER"
	}
	return s
}

// FormatBytes renders a size in binary units: 512B, 1.5K, 24M, 3.2G.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	suffix := string("KMGTP"[exp])
	if v >= 10 || v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10) + suffix
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + suffix
}

// FormatDuration renders seconds the way tenement's ps does: 42s, 5m, 3h, 2d.
func FormatDuration(secs int64) string {
	switch {
	case secs < 60:
		return strconv.FormatInt(secs, 10) + "s"
	case secs < 3600:
		return strconv.FormatInt(secs/60, 10) + "m"
	case secs < 86400:
		return strconv.FormatInt(secs/3600, 10) + "h"
	default:
		return strconv.FormatInt(secs/86400, 10) + "d"
	}
}

// FormatLogEntry renders one log line as tenement's CLI does:
// "[OUT] service:id message" ("[ERR]" for stderr). The message is the
// tenant's own bytes, so it goes through Printable.
func FormatLogEntry(e logs.Entry) string {
	marker := "OUT"
	if e.Level == logs.Stderr {
		marker = "ERR"
	}
	return fmt.Sprintf("[%s] %s:%s %s", marker, Printable(e.Service), Printable(e.InstanceID), Printable(e.Message))
}

// LogPrinter returns what `ten logs` calls for each entry: the text line of
// FormatLogEntry, or with asJSON one JSON object per line, in which the
// message is the tenant's exact string (JSON escapes every control
// character, so the output is terminal-safe too).
func LogPrinter(w io.Writer, asJSON bool) func(logs.Entry) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return func(e logs.Entry) error { return enc.Encode(e) }
	}
	return func(e logs.Entry) error {
		_, err := fmt.Fprintln(w, FormatLogEntry(e))
		return err
	}
}

// FormatLogSpan says which range of time the server's logs cover, e.g.
// "logs kept since 2026-05-06T12:00:00Z (retention 14 days, at most 500000 lines)".
func FormatLogSpan(s logs.Span) string {
	var policy []string
	if s.RetentionDays > 0 {
		policy = append(policy, fmt.Sprintf("retention %d days", s.RetentionDays))
	}
	if s.MaxRows > 0 {
		policy = append(policy, fmt.Sprintf("at most %d lines", s.MaxRows))
	}
	if len(policy) == 0 {
		policy = append(policy, "kept forever")
	}
	if s.Oldest.IsZero() {
		return fmt.Sprintf("no logs kept yet (%s)", strings.Join(policy, ", "))
	}
	return fmt.Sprintf("logs kept since %s (%s)", s.Oldest.UTC().Format(time.RFC3339), strings.Join(policy, ", "))
}
