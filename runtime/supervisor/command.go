package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/tenement/ten/runtime/config"
)

// tenantCommand builds the command of one instance: its argv (the command
// split with shell-words rules when args is empty, as tenement's
// hypervisor.rs:260-275, see config.Service.Argv), its working directory
// and its environment (environ.go).
//
// The working directory is workdir when set, else the server's own: as in
// tenement, whose process runtime sets current_dir only when workdir is set
// (runtime/process.rs:54-56), so a relative command (./app) or a relative
// path in args means relative to where the server runs. The instance's
// data directory is {data_dir}/{name}/{id}, passed through {data_dir}.
func (s *Supervisor) tenantCommand(svc *config.Service, vars config.Vars) (*exec.Cmd, error) {
	argv, err := svc.Argv(vars)
	if err != nil {
		return nil, fmt.Errorf("command %q: %w", svc.Command, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if cmd.Err != nil {
		// exec.Command looks a bare name up on PATH; say which name.
		return nil, fmt.Errorf("command %q: %w", argv[0], cmd.Err)
	}
	cmd.Dir = svc.Interpolate(svc.Workdir, vars)
	cmd.Env = tenantEnv(os.Environ(), svc, vars, map[string]string{
		// tenement sets these two (hypervisor.rs spawn_with_env): the
		// port to listen on, and the socket path of older tenants.
		"PORT":        strconv.Itoa(vars.Port),
		"SOCKET_PATH": svc.SocketPath(vars),
	})
	return cmd, nil
}
