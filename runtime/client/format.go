package client

import (
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
// per instance, or "No running instances".
func WritePS(w io.Writer, instances []api.Instance) error {
	if len(instances) == 0 {
		_, err := fmt.Fprintln(w, "No running instances")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tLISTEN\tUPTIME\tIDLE\tHEALTH\tWEIGHT")
	for _, in := range instances {
		listen, uptime := in.Listen, FormatDuration(in.UptimeSecs)
		if listen == "" {
			listen, uptime = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n",
			in.ID, listen, uptime, FormatDuration(in.IdleSecs), healthColumn(in), in.Weight)
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
// "[OUT] service:id message" ("[ERR]" for stderr).
func FormatLogEntry(e logs.Entry) string {
	marker := "OUT"
	if e.Level == logs.Stderr {
		marker = "ERR"
	}
	return fmt.Sprintf("[%s] %s:%s %s", marker, e.Service, e.InstanceID, e.Message)
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
