package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	psnet "github.com/shirou/gopsutil/v3/net"
)

// Info is what the process table tells about a process.
type Info struct {
	Exe       string   // the executable, "" when unreadable
	Args      []string // argv, never empty
	Dir       string   // working directory, "" when unreadable
	Env       []string // nil when unreadable
	Listening []string // TCP host:port it listens on
	Children  []int
}

// Describe reads what the process table tells about pid. Only the command
// line is required: a process that hides it (a zombie, or another user's)
// cannot be started again alike, while the rest is best effort.
func Describe(ctx context.Context, pid int) (Info, error) {
	p := handle(pid)
	args, err := p.CmdlineSliceWithContext(ctx)
	if err == nil && len(args) == 0 {
		err = errors.New("it is empty (a zombie, or not readable as this user)")
	}
	if err != nil {
		return Info{}, fmt.Errorf("read the command line of pid %d: %w", pid, err)
	}
	in := Info{Args: args}
	if exe, err := p.ExeWithContext(ctx); err == nil {
		in.Exe = strings.TrimSuffix(exe, " (deleted)")
	}
	if dir, err := p.CwdWithContext(ctx); err == nil {
		in.Dir = dir
	}
	if env, err := p.EnvironWithContext(ctx); err == nil {
		in.Env = env
	}
	if conns, err := psnet.ConnectionsPidWithContext(ctx, "tcp", int32(pid)); err == nil {
		for _, c := range conns {
			if c.Status == "LISTEN" {
				in.Listening = append(in.Listening, net.JoinHostPort(c.Laddr.IP, strconv.Itoa(int(c.Laddr.Port))))
			}
		}
	}
	if kids, err := Children(pid); err == nil {
		in.Children = PIDs(kids)
	}
	return in, nil
}

// Cmdline returns the arguments of pid, argv[0] first. Some programs
// rewrite them to show their role (nginx: "nginx: worker process").
func Cmdline(pid int) ([]string, error) {
	args, err := handle(pid).CmdlineSlice()
	if err != nil {
		return nil, fmt.Errorf("command line of pid %d: %w", pid, err)
	}
	return args, nil
}

// FDs returns what each open descriptor of pid refers to, as procfs links
// it: a file's path, or "socket:[inode]", "pipe:[inode]",
// "anon_inode:[eventfd]". Nil when they cannot be read.
func FDs(pid int) []string {
	files, err := handle(pid).OpenFiles()
	if err != nil {
		return nil
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}
