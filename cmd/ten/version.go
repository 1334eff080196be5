package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tenement/ten/runtime/admin"
)

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print version, API and schema versions, and capabilities",
		Long: `Print what this binary is and what it can do. With --json the output is
the contract ten-upgrade reads: version, api_version, schema_version,
min_schema_version, compat_floor, commit, go_version, platform, capabilities.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := admin.VersionInfo()
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			fmt.Fprintf(out, "ten %s\n", info.Version)
			fmt.Fprintf(out, "  commit:        %s\n", info.Commit)
			fmt.Fprintf(out, "  api version:   %s\n", info.APIVersion)
			fmt.Fprintf(out, "  schema:        %d (migrates from %d; compat floor %d)\n", info.SchemaVersion, info.MinSchemaVersion, info.CompatFloor)
			fmt.Fprintf(out, "  built with:    %s %s\n", info.GoVersion, info.Platform)
			fmt.Fprintf(out, "  capabilities:  %s\n", strings.Join(info.Capabilities, ", "))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	return cmd
}
