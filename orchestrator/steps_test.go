package orchestrator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStageChecksWhatItCopied: the stage step stages exactly the verified
// candidate, and refuses a candidate that changed after it was verified.
func TestStageChecksWhatItCopied(t *testing.T) {
	verified := "#!/bin/sh\necho verified\n"
	sum := sha256.Sum256([]byte(verified))
	for _, tc := range []struct {
		name    string
		content string
		wantErr string
	}{
		{"verified", verified, ""},
		{"changed after the check", "#!/bin/sh\necho tampered\n", "changed since it was verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cand := filepath.Join(dir, "candidate")
			if err := os.WriteFile(cand, []byte(tc.content), 0o755); err != nil {
				t.Fatal(err)
			}
			u := &upgrade{p: &Params{Candidate: cand, CandidateSHA256: hex.EncodeToString(sum[:]), Staged: filepath.Join(dir, ".ten.new")}}
			_, err := u.doStage(context.Background())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if b, err := os.ReadFile(u.p.Staged); err != nil || string(b) != verified {
					t.Fatalf("staged %q, %v; want the candidate", b, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("doStage: %v, want an error saying %q", err, tc.wantErr)
			}
		})
	}
}
