package orchestrator

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/tenement/ten/orchestrator/journal"
	"github.com/tenement/ten/orchestrator/release"
)

// The candidate is verified once, by check, and its SHA-256 journaled. Every
// later use of one of its copies (the kept candidate, the staged binary,
// the installed one after promote) checks that copy against that SHA-256
// first: a resumed upgrade runs minutes or days after the check, and a
// file changed in between must never be run or installed.

// changedError says that path no longer holds the verified candidate; what
// names the file ("the staged binary").
func changedError(what, path, want string) error {
	got, err := release.FileSHA256(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %s is missing", what, path)
	case err != nil:
		return fmt.Errorf("%s %s cannot be read: %w", what, path, err)
	case got != want:
		return fmt.Errorf("%s %s changed since it was verified (sha256 %s, the journal records %s)", what, path, short(got), short(want))
	}
	return nil
}

// stagedSHA256 is the SHA-256 journaled for the staged binary.
func (u *upgrade) stagedSHA256() string {
	var s stageOut
	if u.output(StepStage, &s) && s.SHA256 != "" {
		return s.SHA256
	}
	return u.p.CandidateSHA256
}

// verifyStaged checks the staged binary before it is started or promoted.
func (u *upgrade) verifyStaged() error {
	if err := changedError("the staged binary", u.p.Staged, u.stagedSHA256()); err != nil {
		return fmt.Errorf("%w: refusing to run it; run ten-upgrade run again to fetch and verify the release anew", err)
	}
	return nil
}

// verifyResumable checks, before a resumed upgrade does anything, the copy
// of the candidate that its next step uses: the kept candidate until it is
// staged, the staged binary until it is promoted, then the installed one.
// An interrupted promote is left to doPromote, which checks whichever copy
// it finds (the rename may or may not have happened). A changed file
// refuses the resume with nothing done.
func (u *upgrade) verifyResumable(steps []journal.Step) error {
	state := map[string]string{}
	for _, s := range steps {
		state[s.Name] = s.State
	}
	var err error
	switch {
	case state[StepPromote] == journal.StepDone:
		err = changedError("the installed binary", u.p.Installed, u.p.CandidateSHA256)
	case state[StepPromote] != "":
	case state[StepStage] == journal.StepDone:
		err = changedError("the staged binary", u.p.Staged, u.stagedSHA256())
	default:
		err = changedError("the verified candidate", u.p.Candidate, u.p.CandidateSHA256)
	}
	if err != nil {
		return fmt.Errorf("cannot resume upgrade %d: %w; nothing was done: run ten-upgrade rollback to undo it, then ten-upgrade run to fetch and verify the release anew", u.id, err)
	}
	return nil
}
