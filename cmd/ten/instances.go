package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/client"
)

// usageError is a mistake on the command line: exit status 2.
func usageError(format string, a ...any) error {
	return &cli.ExitError{Code: 2, Err: fmt.Errorf(format, a...)}
}

// instanceArg checks that s is "service:id".
func instanceArg(s string) (string, error) {
	service, id, ok := strings.Cut(s, ":")
	if !ok || service == "" || id == "" {
		return "", usageError("invalid instance %q: expected service:id, e.g. api:prod", s)
	}
	return s, nil
}

// splitArg reads "SERVICE:VALUE" or SERVICE with the value of --flag
// (spawn's --id, deploy's --id); given both ways, the values must agree.
// what names the value in errors, usage shows the command with a %s for
// the service.
func splitArg(arg, flagValue, flag, what, usage string) (service, value string, err error) {
	service, value = arg, flagValue
	if s, v, ok := strings.Cut(arg, ":"); ok {
		if value != "" && value != v {
			return "", "", usageError("%s given twice: %q and --%s %q", what, v, flag, value)
		}
		service, value = s, v
	}
	if value == "" {
		return "", "", usageError("missing %s: "+usage, what, service)
	}
	return service, value, nil
}

// callAPI connects to the server, makes one call and prints what it
// reports.
func callAPI(cmd *cobra.Command, g *globals, call func(ctx context.Context, c *client.Client) (string, error)) error {
	c, err := g.apiClient()
	if err != nil {
		return err
	}
	report, err := call(cmd.Context(), c)
	if err != nil {
		return err
	}
	fmt.Fprint(cmd.OutOrStdout(), report)
	return nil
}

// instanceCmd is `ten VERB SERVICE:ID`: one API call on one instance, whose
// report is printed when it succeeds.
func instanceCmd(g *globals, verb, short string, call func(ctx context.Context, c *client.Client, name string) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " SERVICE:ID",
		Short:   short,
		Example: "  ten " + verb + " api:prod",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := instanceArg(args[0])
			if err != nil {
				return err
			}
			return callAPI(cmd, g, func(ctx context.Context, c *client.Client) (string, error) { return call(ctx, c, name) })
		},
	}
}

// started reports a spawned or restarted instance and where it listens.
func started(verb string, res api.SpawnResponse) string {
	return fmt.Sprintf("%s %s\nListen: %s\n", verb, res.Instance, res.Socket)
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
			service, id, err := splitArg(args[0], id, "id", "instance id", "ten spawn %s --id ID")
			if err != nil {
				return err
			}
			return callAPI(cmd, g, func(ctx context.Context, c *client.Client) (string, error) {
				res, err := c.Spawn(ctx, service, id)
				return started("Spawned", res), err
			})
		},
	}
	cmd.Flags().StringVarP(&id, "id", "i", "", "instance id")
	return cmd
}

func newStopCmd(g *globals) *cobra.Command {
	return instanceCmd(g, "stop", "Stop a running instance", func(ctx context.Context, c *client.Client, name string) (string, error) {
		return "Stopped " + name + "\n", c.Stop(ctx, name)
	})
}

func newRestartCmd(g *globals) *cobra.Command {
	return instanceCmd(g, "restart", "Restart an instance", func(ctx context.Context, c *client.Client, name string) (string, error) {
		res, err := c.Restart(ctx, name)
		return started("Restarted", res), err
	})
}

func newHealthCmd(g *globals) *cobra.Command {
	return instanceCmd(g, "health", "Check the health of an instance now", func(ctx context.Context, c *client.Client, name string) (string, error) {
		res, err := c.Health(ctx, name)
		return fmt.Sprintf("%s: %s\n", res.Instance, res.Health), err
	})
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
				return usageError("invalid weight %q: must be an integer between 0 and 100", args[1])
			}
			return callAPI(cmd, g, func(ctx context.Context, c *client.Client) (string, error) {
				res, err := c.SetWeight(ctx, name, w)
				return fmt.Sprintf("Set %s weight to %d\n", res.Instance, res.Weight), err
			})
		},
	}
}
