package orchestrator

import (
	"fmt"
	"io"
)

// Step names, in the order an upgrade runs them. The journal records one
// step per name; `ten-upgrade status` shows them.
const (
	StepLock         = "lock"
	StepFetch        = "fetch"
	StepCompat       = "compat"
	StepBackupBinary = "backup-binary"
	StepBackupDB     = "backup-db"
	StepStage        = "stage"
	StepSwitch       = "switch"
	StepPromote      = "promote"
	StepWatch        = "watch"
	StepCommit       = "commit"
)

// StepNames lists every step of an upgrade in order.
var StepNames = []string{StepLock, StepFetch, StepCompat, StepBackupBinary, StepBackupDB,
	StepStage, StepSwitch, StepPromote, StepWatch, StepCommit}

// PlanStep is one line of a plan: a step and what it will do.
type PlanStep struct {
	Name     string   `json:"name"`
	Does     string   `json:"does"`
	Commands []string `json:"commands,omitempty"`
	Undo     string   `json:"undo"`
}

// writePlan prints the plan as text.
func writePlan(w io.Writer, p *Params, steps []PlanStep) {
	fmt.Fprintf(w, "Plan: ten %s -> %s, strategy %s\n", p.From, p.To, p.Strategy)
	for i, s := range steps {
		fmt.Fprintf(w, "%2d. %-14s %s\n", i+1, s.Name, s.Does)
		for _, c := range s.Commands {
			fmt.Fprintf(w, "    %-14s $ %s\n", "", c)
		}
		fmt.Fprintf(w, "    %-14s undo: %s\n", "", s.Undo)
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
