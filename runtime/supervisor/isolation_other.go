//go:build !linux

package supervisor

import (
	"fmt"
	"runtime"
	"syscall"

	"github.com/tenement/ten/runtime/config"
)

func checkIsolation(level string) error {
	switch level {
	case "", config.IsolationProcess:
		return nil
	case config.IsolationNamespace:
		return fmt.Errorf(`isolation "namespace" needs Linux (this is %s); set isolation = "process" for local development`, runtime.GOOS)
	default:
		return fmt.Errorf("isolation %q is not supported; use \"process\"", level)
	}
}

func applyIsolation(*syscall.SysProcAttr, string) error { return nil }
