package site

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/tenement/ten/internal/proc"
)

// Run is one ten-upgrade invocation.
type Run struct {
	// Code is the exit code, or minus the signal that killed it.
	Code           int
	Stdout, Stderr string
	Start          time.Time
	Took           time.Duration
}

// Upgrade runs ten-upgrade with the site's config, env added to the
// site's environment, and args. during, if set, runs while it does (it
// gets the running command). The error is for a command that could not
// run; an exit code is in the Run.
func (s *Site) Upgrade(ctx context.Context, env []string, during func(*exec.Cmd), args ...string) (Run, error) {
	cmd := exec.CommandContext(ctx, s.cfg.Bins.Upgrade, append([]string{"--config", s.Config}, args...)...)
	cmd.Env = s.Environ(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	r := Run{Start: time.Now()}
	err := cmd.Start()
	if err == nil {
		if during != nil {
			during(cmd)
		}
		err = cmd.Wait()
	}
	r.Took = time.Since(r.Start)
	r.Stdout, r.Stderr = out.String(), errb.String()
	if r.Code, err = proc.ExitCode(err); err != nil {
		return r, fmt.Errorf("ten-upgrade %s: %w", strings.Join(args, " "), err)
	}
	return r, nil
}
