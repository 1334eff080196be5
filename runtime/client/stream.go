package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/logs"
)

// FollowLogs streams log lines matching q (Limit is ignored) from
// /api/logs/stream and calls fn for each, until ctx is done, fn fails or
// the server ends the stream. connected, if not nil, is called once the
// server has confirmed the subscription: lines logged after that point are
// delivered.
func (c *Client) FollowLogs(ctx context.Context, q LogQuery, connected func(), fn func(logs.Entry) error) error {
	q.Limit = 0
	resp, err := c.send(ctx, http.MethodGet, q.path("/api/logs/stream"), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			// End of an event.
			if data.Len() > 0 {
				var e api.LogEntry
				if err := json.Unmarshal([]byte(data.String()), &e); err != nil {
					return fmt.Errorf("log stream: bad event: %w", err)
				}
				data.Reset()
				if err := fn(e.Entry()); err != nil {
					return err
				}
			}
		case strings.HasPrefix(line, ":"):
			// A comment: the server's hello or a keep-alive.
			if connected != nil {
				connected()
				connected = nil
			}
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("log stream: %w", err)
	}
	return nil
}
