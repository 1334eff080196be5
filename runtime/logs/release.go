package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
)

// DefaultReleaseAfter is IndexerOptions.ReleaseAfter when unset.
const DefaultReleaseAfter = 1 << 20

// releaseBlock is the unit of release: punching whole filesystem blocks is
// what frees space.
const releaseBlock = 4096

// releaseKeep is how many of the newest indexed bytes are never released,
// so that the end of a file still reads as text: `tail` on it, and the
// supervisor quoting the last stderr lines of a tenant that failed to start.
const releaseKeep = 16 << 10

// release gives back the disk space of the indexed part of a log file once
// at least ReleaseAfter bytes of it are still held, so that a tenant's log
// files use about that much disk however long it runs. The lines are in the
// database; the file keeps only what is not indexed yet.
//
// The file cannot be truncated or rotated: the tenant holds it open and
// appends to it, and may outlive this server. Punching a hole keeps its
// size and every offset, so the tenant's writes and the recorded progress
// stay valid. The caller holds the file's lock, so no other server reads
// it meanwhile. The first bytes then read as zeros, so the progress record
// is rewritten with the hash of the new head; until that is done (a crash
// in between), an all-zero head is taken as the same file (see headOK).
func (x *Indexer) release(ctx context.Context, f *os.File, t *tracked, path string, p idx) error {
	if x.opts.ReleaseAfter < 0 || t.noRelease {
		return nil
	}
	upto := (p.off - releaseKeep) / releaseBlock * releaseBlock
	if upto-t.released < x.opts.ReleaseAfter {
		return nil
	}
	if err := punchHole(f, upto); err != nil {
		if errors.Is(err, errors.ErrUnsupported) || isNotSupported(err) {
			// A filesystem without hole punching: the file keeps growing,
			// as it did before.
			t.noRelease = true
			x.opts.Logger.Info("log file space cannot be released on this filesystem", "path", path, "err", err)
			return nil
		}
		return fmt.Errorf("release indexed bytes of %s: %w", path, err)
	}
	t.released = upto
	p.head = headHash(f, p.off)
	if _, err := x.db.ExecContext(ctx, `UPDATE config SET value = ? WHERE key = ?`,
		fmt.Sprintf("%d %d %s", p.ino, p.off, p.head), progressKey(path)); err != nil {
		return fmt.Errorf("record release of %s: %w", path, err)
	}
	return nil
}

// open opens a log file to index it: read-write where its space may be
// released, read-only otherwise.
func (x *Indexer) open(t *tracked) (*os.File, error) {
	if x.opts.ReleaseAfter < 0 || t.noRelease {
		return os.Open(t.src.Path)
	}
	f, err := os.OpenFile(t.src.Path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrPermission) {
		t.noRelease = true
		x.opts.Logger.Info("log file space cannot be released: the file is not writable by this server", "path", t.src.Path)
		return os.Open(t.src.Path)
	}
	return f, err
}

// headOK reports whether the first bytes of f are those recorded (hash
// head) for a file indexed up to off, or were released by punching a hole.
func headOK(f *os.File, off int64, head string) bool {
	if headHash(f, off) == head {
		return true
	}
	b := make([]byte, min(off, headLen))
	n, _ := f.ReadAt(b, 0)
	return n > 0 && n == len(b) && bytes.Count(b, []byte{0}) == n
}
