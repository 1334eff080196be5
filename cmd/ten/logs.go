package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/runtime/client"
	"github.com/tenement/ten/runtime/logs"
)

func newLogsCmd(g *globals) *cobra.Command {
	var (
		q      client.LogQuery
		follow bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "logs [SERVICE[:ID]]",
		Short: "Show or follow tenant output",
		Long: `Show the most recent lines tenants wrote to stdout and stderr, oldest
first, as "[OUT] service:id message" ("[ERR]" for stderr). With -f, print
new lines as they arrive until interrupted.

After the lines, stderr says since when the server keeps logs: older lines
have been deleted by [settings] log_retention_days or log_max_rows.

Control characters in a tenant's output (other than tab) are shown escaped,
e.g. ESC as \x1b, so a tenant cannot drive your terminal. --json prints one
JSON object per line with the exact message.`,
		Example: `  ten logs api:prod --limit 50
  ten logs api --level stderr --search timeout
  ten logs -f`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				service, id, _ := strings.Cut(args[0], ":")
				if service == "" {
					return &cli.ExitError{Code: 2, Err: fmt.Errorf("invalid instance %q: expected service or service:id", args[0])}
				}
				q.Service, q.ID = service, id
			}
			switch q.Level {
			case "", logs.Stdout, logs.Stderr:
			default:
				return &cli.ExitError{Code: 2, Err: fmt.Errorf("invalid --level %q: want stdout or stderr", q.Level)}
			}
			if q.Limit < 0 {
				return &cli.ExitError{Code: 2, Err: fmt.Errorf("invalid --limit %d", q.Limit)}
			}
			c, err := g.apiClient()
			if err != nil {
				return err
			}
			printEntry := client.LogPrinter(cmd.OutOrStdout(), asJSON)
			if !follow {
				es, err := c.Logs(cmd.Context(), q)
				if err != nil {
					return err
				}
				for _, e := range es {
					if err := printEntry(e); err != nil {
						return err
					}
				}
				// On stderr, so that the lines stay machine-readable. A
				// server older than the range endpoint just says nothing.
				if span, err := c.LogRange(cmd.Context(), q); err == nil {
					fmt.Fprintln(cmd.ErrOrStderr(), client.FormatLogSpan(span))
				}
				return nil
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			connected := func() { fmt.Fprintln(cmd.ErrOrStderr(), "Following logs (Ctrl-C to stop)...") }
			err = c.FollowLogs(ctx, q, connected, printEntry)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			if err == nil {
				return errors.New("the server closed the log stream")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Level, "level", "", "only stdout or stderr")
	f.StringVar(&q.Search, "search", "", "full-text search in messages")
	f.IntVarP(&q.Limit, "limit", "n", 100, "number of lines to show")
	f.BoolVarP(&follow, "follow", "f", false, "stream new lines as they arrive")
	f.BoolVar(&asJSON, "json", false, "one JSON object per line, message unaltered")
	return cmd
}
