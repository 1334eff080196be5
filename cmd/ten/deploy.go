package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/internal/cli"
	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/client"
)

func newDeployCmd(g *globals) *cobra.Command {
	var (
		version string
		weight  int
		timeout int
	)
	cmd := &cobra.Command{
		Use:   "deploy SERVICE --version VERSION | deploy SERVICE:VERSION",
		Short: "Spawn a new version, wait until it is healthy, and give it traffic",
		Long: `Deploy spawns SERVICE:VERSION (the version is the instance id), waits up to
--timeout seconds for it to pass its health check, then sets its routing
weight. With --weight below 100 it is a canary; move all traffic over with
ten route.`,
		Example: `  ten deploy api --version v2 --weight 10
  ten route api --from v1 --to v2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			service, version, err := splitArg(args[0], version, "version", "version", "ten deploy %s --version VERSION")
			if err != nil {
				return err
			}
			if err := api.CheckWeight("--weight", int64(weight)); err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			if err := api.CheckDeployTimeout("--timeout", int64(timeout)); err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			return callAPI(cmd, g, func(ctx context.Context, c *client.Client) (string, error) {
				ctx, cancel := context.WithTimeout(ctx, time.Duration(timeout+10)*time.Second)
				defer cancel()
				res, err := c.Deploy(ctx, api.DeployRequest{Process: service, Version: version, Weight: &weight, Timeout: &timeout})
				return fmt.Sprintf("Deployed %s (%s, weight %d)\n", res.Instance, res.Status, res.Weight), err
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&version, "version", "v", "", "version to deploy (the instance id)")
	f.IntVarP(&weight, "weight", "w", api.DefaultDeployWeight, "routing weight once healthy (0-100)")
	f.IntVarP(&timeout, "timeout", "t", api.DefaultDeployTimeout, fmt.Sprintf("seconds to wait for the health check (%d-%d)", api.MinDeployTimeout, api.MaxDeployTimeout))
	return cmd
}

func newRouteCmd(g *globals) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "route SERVICE --from VERSION --to VERSION",
		Short: "Move all traffic of a service from one version to another",
		Long: `Route sets the weight of SERVICE:TO to 100 and then that of SERVICE:FROM to
0, so {service}.{domain} switches versions without a moment with no
instance in rotation. Both instances keep running.`,
		Example: "  ten route api --from v1 --to v2",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || to == "" {
				return usageError("route needs --from and --to")
			}
			return callAPI(cmd, g, func(ctx context.Context, c *client.Client) (string, error) {
				res, err := c.Route(ctx, args[0], from, to)
				return fmt.Sprintf("Routed %s: %s (weight %d) -> %s (weight %d)\n",
					args[0], res.FromInstance, res.FromWeight, res.ToInstance, res.ToWeight), err
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "version that loses the traffic")
	cmd.Flags().StringVar(&to, "to", "", "version that gets the traffic")
	return cmd
}
