package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/runtime/client"
)

// instanceArg checks that s is "service:id".
func instanceArg(s string) (string, error) {
	service, id, ok := strings.Cut(s, ":")
	if !ok || service == "" || id == "" {
		return "", &cli.ExitError{Code: 2, Err: fmt.Errorf("invalid instance %q: expected service:id, e.g. api:prod", s)}
	}
	return s, nil
}

// onInstance is the RunE of a command acting on one SERVICE:ID through the
// API: it checks the argument and connects before calling act.
func onInstance(g *globals, act func(ctx context.Context, c *client.Client, name string, out io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		name, err := instanceArg(args[0])
		if err != nil {
			return err
		}
		c, err := g.apiClient()
		if err != nil {
			return err
		}
		return act(cmd.Context(), c, name, cmd.OutOrStdout())
	}
}

func newSpawnCmd(g *globals) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "spawn SERVICE --id ID | spawn SERVICE:ID",
		Short: "Spawn an instance of a service",
		Example: `  ten spawn api --id prod
  ten spawn api:prod`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			service := args[0]
			if s, i, ok := strings.Cut(service, ":"); ok {
				if id != "" && id != i {
					return &cli.ExitError{Code: 2, Err: fmt.Errorf("instance id given twice: %q and --id %q", i, id)}
				}
				service, id = s, i
			}
			if id == "" {
				return &cli.ExitError{Code: 2, Err: fmt.Errorf("missing instance id: ten spawn %s --id ID", service)}
			}
			c, err := g.apiClient()
			if err != nil {
				return err
			}
			res, err := c.Spawn(cmd.Context(), service, id)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Spawned %s\n", res.Instance)
			fmt.Fprintf(out, "Listen: %s\n", res.Socket)
			return nil
		},
	}
	cmd.Flags().StringVarP(&id, "id", "i", "", "instance id")
	return cmd
}

func newStopCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "stop SERVICE:ID",
		Short:   "Stop a running instance",
		Example: "  ten stop api:prod",
		Args:    cobra.ExactArgs(1),
		RunE: onInstance(g, func(ctx context.Context, c *client.Client, name string, out io.Writer) error {
			if err := c.Stop(ctx, name); err != nil {
				return err
			}
			fmt.Fprintf(out, "Stopped %s\n", name)
			return nil
		}),
	}
}

func newRestartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "restart SERVICE:ID",
		Short:   "Restart an instance",
		Example: "  ten restart api:prod",
		Args:    cobra.ExactArgs(1),
		RunE: onInstance(g, func(ctx context.Context, c *client.Client, name string, out io.Writer) error {
			res, err := c.Restart(ctx, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "Restarted %s\n", res.Instance)
			fmt.Fprintf(out, "Listen: %s\n", res.Socket)
			return nil
		}),
	}
}

func newPsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ps",
		Aliases: []string{"ls"},
		Short:   "List instances",
		Long: `List instances with their listen address, uptime, time since the last
request, health (or state, when not running) and routing weight.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.apiClient()
			if err != nil {
				return err
			}
			list, err := c.List(cmd.Context())
			if err != nil {
				return err
			}
			return client.WritePS(cmd.OutOrStdout(), list)
		},
	}
}

func newHealthCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "health SERVICE:ID",
		Short:   "Check the health of an instance now",
		Example: "  ten health api:prod",
		Args:    cobra.ExactArgs(1),
		RunE: onInstance(g, func(ctx context.Context, c *client.Client, name string, out io.Writer) error {
			res, err := c.Health(ctx, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: %s\n", res.Instance, res.Health)
			return nil
		}),
	}
}

func newWeightCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "weight SERVICE:ID WEIGHT",
		Short: "Set the share of {service}.{domain} traffic an instance gets (0-100)",
		Long: `Set the routing weight of an instance, 0 to 100. Requests for
{service}.{domain} are spread over the service's live instances in
proportion to their weights; weight 0 takes an instance out of rotation
(it still answers at {id}.{service}.{domain}).`,
		Example: `  ten weight api:v2 10     # canary: about 10% of api.example.com
  ten weight api:v1 0`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := instanceArg(args[0])
			if err != nil {
				return err
			}
			w, err := strconv.Atoi(args[1])
			if err != nil || w < 0 || w > 100 {
				return &cli.ExitError{Code: 2, Err: fmt.Errorf("invalid weight %q: must be an integer between 0 and 100", args[1])}
			}
			c, err := g.apiClient()
			if err != nil {
				return err
			}
			res, err := c.SetWeight(cmd.Context(), name, w)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Set %s weight to %d\n", res.Instance, res.Weight)
			return nil
		},
	}
}
