// Package cli holds what ten's and ten-upgrade's command lines share: the
// root command's shape, the shared flags' environment defaults, and how a
// command's exit status reaches the process.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// ExitError carries an exit status that is part of a command's contract
// (`ten config --check`, `ten-upgrade check`) up to Run. Err, when set,
// is printed; without it the command has already said what it had to.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Run executes root with args and returns the process exit status: 0, an
// ExitError's code, or otherCode for any other error. Errors are printed
// to stderr as "NAME: error", NAME being root's.
func Run(root *cobra.Command, args []string, stdout, stderr io.Writer, otherCode int) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, root.Name()+":", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, root.Name()+":", err)
	return otherCode
}

// NewRoot returns the root command of a program named name: --version
// prints "name VERSION", and errors are left to Run to print, once,
// without the usage text.
func NewRoot(name, short, long, version string) *cobra.Command {
	root := &cobra.Command{
		Use:           name,
		Short:         short,
		Long:          long,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate(name + " {{.Version}}\n")
	return root
}

// EnvOr returns the environment variable key, or def when it is unset or
// empty: the default of a flag that the environment may also set.
func EnvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Installation is how both programs find an installation: its config
// file, its data directory and its running server, from the same flags
// and environment variables.
type Installation struct {
	Config  string // --config, TENEMENT_CONFIG
	DataDir string // --data-dir, TENEMENT_DATA_DIR
	Server  string // --server, TENEMENT_SERVER
}

// AddFlags defines --config, --data-dir and --server on root, for every
// subcommand.
func (in *Installation) AddFlags(root *cobra.Command) {
	fs := root.PersistentFlags()
	fs.StringVar(&in.Server, "server", EnvOr("TENEMENT_SERVER", "http://127.0.0.1:8080"), "URL of the running ten server (env TENEMENT_SERVER)")
	fs.StringVar(&in.DataDir, "data-dir", "", "data directory, overrides [settings] data_dir (env TENEMENT_DATA_DIR)")
	fs.StringVar(&in.Config, "config", "", "path to tenement.toml (env TENEMENT_CONFIG)")
}
