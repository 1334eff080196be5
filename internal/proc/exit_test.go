package proc

import (
	"os/exec"
	"testing"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmd     *exec.Cmd
		want    int
		wantErr bool
	}{
		{"success", exec.Command("/bin/sh", "-c", "exit 0"), 0, false},
		{"exit 3", exec.Command("/bin/sh", "-c", "exit 3"), 3, false},
		{"killed", exec.Command("/bin/sh", "-c", "kill -9 $$"), -9, false},
		{"not run", exec.Command("/no/such/program"), 0, true},
	} {
		code, err := ExitCode(tc.cmd.Run())
		if code != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: ExitCode = %d, %v; want %d (error %v)", tc.name, code, err, tc.want, tc.wantErr)
		}
	}
}
