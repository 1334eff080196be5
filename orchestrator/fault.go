package orchestrator

import (
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// FaultEnv names the environment variable of the fault-injection points
// used by the crash tests: "after:STEP" kills ten-upgrade with SIGKILL once
// STEP's action has had its effect (before the journal records it done),
// "before:STEP" as STEP starts, "undo:STEP" as STEP's undo starts, and
// "pause:STEP" stops the process (SIGSTOP) as STEP starts, so that a test
// can change the machine under it. Unset, it does nothing.
const FaultEnv = "TEN_UPGRADE_FAULT"

func faultPoint(point, step string) {
	v := os.Getenv(FaultEnv)
	if v == "" {
		return
	}
	for _, f := range strings.Split(v, ",") {
		what, at, _ := strings.Cut(f, ":")
		if at != step {
			continue
		}
		switch {
		case what == point:
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // SIGKILL is not delivered synchronously
		case what == "pause" && point == "before":
			// SIGSTOP is not delivered synchronously either: wait for the
			// SIGCONT, so that nothing of the step runs before it.
			cont := make(chan os.Signal, 1)
			signal.Notify(cont, syscall.SIGCONT)
			syscall.Kill(os.Getpid(), syscall.SIGSTOP)
			<-cont
			signal.Stop(cont)
		}
	}
}
