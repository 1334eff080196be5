package orchestrator

import "github.com/tenement/ten/internal/fault"

// FaultEnv names the environment variable of the fault-injection points
// used by the crash tests: "after:STEP" kills ten-upgrade with SIGKILL once
// STEP's action has had its effect (before the journal records it done),
// "before:STEP" as STEP starts, "undo:STEP" as STEP's undo starts, and
// "pause:STEP" stops the process (SIGSTOP) as STEP starts, so that a test
// can change the machine under it. Unset, it does nothing.
const FaultEnv = fault.Env

func faultPoint(point, step string) { fault.Point(point, step) }
