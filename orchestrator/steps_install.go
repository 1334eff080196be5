package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/tenement/ten/internal/fsutil"
)

type stageOut struct {
	Staged string `json:"staged"`
	SHA256 string `json:"sha256"`
}

func (u *upgrade) doStage(context.Context) (any, error) {
	sum, err := fsutil.CopyFile(u.p.Candidate, u.p.Staged, 0o755)
	if err != nil {
		return nil, fmt.Errorf("stage: %w", err)
	}
	if sum != u.p.CandidateSHA256 {
		return nil, fmt.Errorf("stage: %s changed since it was verified (sha256 %s, want %s): run ten-upgrade run again to fetch and verify it anew", u.p.Candidate, short(sum), short(u.p.CandidateSHA256))
	}
	return stageOut{Staged: u.p.Staged, SHA256: u.p.CandidateSHA256}, nil
}

func (u *upgrade) undoStage(context.Context, json.RawMessage) error {
	err := os.Remove(u.p.Staged)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// A leftover staged file is harmless; it must not stop the rollback.
		u.note("could not remove the staged binary %s: %v", u.p.Staged, err)
	}
	return nil
}

type promoteOut struct {
	Installed string `json:"installed"`
	SHA256    string `json:"sha256"`
}

func (u *upgrade) doPromote(ctx context.Context) (any, error) {
	if !fileIs(u.p.Installed, u.p.CandidateSHA256) {
		if !fileIs(u.p.Staged, u.p.CandidateSHA256) {
			// Re-run after an interruption whose undo put the old binary
			// back: stage again from the kept candidate, checked as it is
			// copied.
			if _, err := u.doStage(ctx); err != nil {
				return nil, fmt.Errorf("stage again: %w", err)
			}
		}
		if err := fsutil.Promote(u.p.Staged, u.p.Installed); err != nil {
			return nil, err
		}
	}
	return promoteOut{Installed: u.p.Installed, SHA256: u.p.CandidateSHA256}, nil
}

// undoPromote puts ten From back at the installed path from its backup.
func (u *upgrade) undoPromote(context.Context, json.RawMessage) error {
	if fileIs(u.p.Installed, u.p.InstalledSHA256) {
		return nil
	}
	bak, err := u.backupOfFrom()
	if err != nil {
		return err
	}
	mode := fs.FileMode(0o755)
	if fi, err := os.Stat(bak); err == nil {
		mode = fi.Mode().Perm()
	}
	if _, err := fsutil.CopyFile(bak, u.p.Installed, mode); err != nil {
		return fmt.Errorf("restore %s from %s: %w", u.p.Installed, bak, err)
	}
	return nil
}

// backupOfFrom finds a file that holds ten From: the backup made by this
// upgrade, or the previous one.
func (u *upgrade) backupOfFrom() (string, error) {
	var b backupBinaryOut
	cands := []string{}
	if u.output(StepBackupBinary, &b) && b.Backup != "" {
		cands = append(cands, b.Backup)
	}
	cands = append(cands, u.p.Installed+".bak", u.p.Installed+".bak.1")
	for _, c := range cands {
		if fileIs(c, u.p.InstalledSHA256) {
			return c, nil
		}
	}
	return "", fmt.Errorf("no copy of ten %s (sha256 %s) found among %s", u.p.From, short(u.p.InstalledSHA256), strings.Join(cands, ", "))
}

// binaryOfFrom is the binary to run ten From from: the installed path when
// it holds ten From again, else its backup.
func (u *upgrade) binaryOfFrom() (string, error) {
	if fileIs(u.p.Installed, u.p.InstalledSHA256) {
		return u.p.Installed, nil
	}
	return u.backupOfFrom()
}
