// Package fsutil writes, copies and replaces files so that a crash or a
// power cut at any instant leaves a path holding either its old content or
// its new content, never a partial file and never nothing.
//
// The method is always the same: write a temporary file in the target's
// directory, fsync it, rename(2) it over the target, fsync the directory.
// rename is atomic within a filesystem, so the target names the old inode
// until the instant it names the new one; the directory fsync makes the
// rename itself durable.
//
// Both programs use it, which is why it is internal and not under
// orchestrator/: ten-upgrade for the installed ten binary, its backups, the
// files it keeps in its state directory and the proxy configs it switches;
// ten for its API token and the files it generates. Paths are used as given: callers
// resolve symbolic links first if they mean the file a link points to
// (renaming over a link replaces the link, not its target).
package fsutil

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// rename is os.Rename; tests replace it to inject failures.
var rename = os.Rename

// ErrNotWritable is matched (errors.Is) by a *NotWritableError.
var ErrNotWritable = errors.New("not writable")

// NotWritableError reports that a file could not be created, replaced or
// renamed because its directory is on a read-only filesystem (EROFS) or
// this process may not write it (EACCES, EPERM). It names the path and
// says what to do. errors.Is also matches the underlying errno
// (syscall.EROFS, fs.ErrPermission).
type NotWritableError struct {
	Op   string // "replace", "write", "back up", ...
	Path string
	Dir  string // the directory that could not be written
	Err  error
}

func (e *NotWritableError) Error() string {
	var why, fix string
	if errors.Is(e.Err, syscall.EROFS) {
		why = fmt.Sprintf("%s is on a read-only filesystem", e.Dir)
		fix = "remount it read-write"
	} else {
		why = fmt.Sprintf("permission denied writing in %s", e.Dir)
		fix = fmt.Sprintf("run ten-upgrade as a user that can write %s (the owner of %s, or root); "+
			"if it is root already, check for an immutable attribute (lsattr)", e.Dir, e.Path)
	}
	return fmt.Sprintf("cannot %s %s: %s (%v); %s, or install ten in a writable directory "+
		"and point ten-upgrade at it (--installed or [upgrade] binary_path)", e.Op, e.Path, why, errno(e.Err), fix)
}

func (e *NotWritableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotWritable) true.
func (e *NotWritableError) Is(target error) bool { return target == ErrNotWritable }

// errno returns the innermost error, for messages ("read-only file
// system" rather than the whole *PathError again).
func errno(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// explain turns err from writing in dir into a *NotWritableError when it
// is EROFS, EACCES or EPERM, and wraps it with op and path otherwise.
func explain(op, path, dir string, err error) error {
	if errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return &NotWritableError{Op: op, Path: path, Dir: dir, Err: err}
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}

// tempPattern names temporary files: hidden, next to the target, and
// recognisable as leftovers of a killed process.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// stage writes a temporary file in path's directory: fill writes it, it
// gets mode perm and, when owner is not nil, owner's uid and gid, and it
// is synced and closed. On failure nothing is left behind.
func stage(path string, perm os.FileMode, owner fs.FileInfo, fill func(*os.File) error) (tmp string, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), tempPattern(path))
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := fill(f); err != nil {
		return "", err
	}
	// Chmod is not subject to the umask, so the file gets exactly perm.
	if err := f.Chmod(perm); err != nil {
		return "", err
	}
	if owner != nil {
		copyOwner(f, owner)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// commit renames tmp over path and syncs path's directory; if the rename
// fails, tmp is removed.
func commit(tmp, path string) error {
	if err := rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// replace writes path atomically: fill writes a temporary file in path's
// directory, which is then set to perm, synced and renamed over path, and
// the directory is synced. On failure the temporary file is removed and
// path is as it was.
func replace(op, path string, perm os.FileMode, fill func(*os.File) error) error {
	dir := filepath.Dir(path)
	tmp, err := stage(path, perm, nil, fill)
	if err == nil {
		err = commit(tmp, path)
	}
	if err != nil {
		return explain(op, path, dir, err)
	}
	return nil
}

// Staged is a replacement for a file, written and synced next to it but
// not yet in place, so that a caller can have it checked (a proxy's
// "validate") before it replaces anything.
type Staged struct {
	// Path is the temporary file holding the new content.
	Path   string
	target string
}

// Stage writes data to a temporary file next to path with path's mode and
// owner (0644 and the caller's owner if path does not exist; the owner
// only when running as root), synced. Commit puts it in place; Discard
// removes it. path is used as given: resolve a symbolic link first to
// replace its target.
func Stage(path string, data []byte) (*Staged, error) {
	perm := os.FileMode(0o644)
	fi, err := os.Stat(path)
	if err == nil {
		perm = fi.Mode().Perm()
	} else {
		fi = nil
	}
	tmp, err := stage(path, perm, fi, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &Staged{Path: tmp, target: path}, nil
}

// Commit renames the staged file over its target and syncs the directory.
// On failure the staged file is removed and the target is as it was.
func (s *Staged) Commit() error {
	if err := commit(s.Path, s.target); err != nil {
		return fmt.Errorf("write %s: %w", s.target, err)
	}
	return nil
}

// Discard removes the staged file; the target is untouched.
func (s *Staged) Discard() { os.Remove(s.Path) }

// Replace writes data to path atomically and durably, keeping path's mode
// and owner (Stage, then Commit).
func Replace(path string, data []byte) error {
	s, err := Stage(path, data)
	if err != nil {
		return err
	}
	return s.Commit()
}

// WriteFile writes data to path atomically and durably with mode perm
// (exactly, whatever the umask): a crash leaves the old file or the new
// one. path's directory must exist.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return replace("write", path, perm, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// CopyFile copies src to dst atomically and durably, with mode perm
// (exactly, whatever the umask): through a temporary file in dst's
// directory, synced and renamed over dst, then the directory synced. On
// failure dst is as it was and no temporary file is left.
//
// It returns the hex SHA-256 of the bytes copied, so that a caller who
// expects certain content need not read dst again to know it got it.
func CopyFile(src, dst string, perm os.FileMode) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	h := sha256.New()
	err = replace("write", dst, perm, func(f *os.File) error {
		if _, err := io.Copy(io.MultiWriter(f, h), in); err != nil {
			return fmt.Errorf("copy from %s: %w", src, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// SyncDir fsyncs the directory dir, making the creation, removal and
// renaming of its entries durable. Filesystems that cannot sync a
// directory (EINVAL, ENOTSUP) are taken to need no sync.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// BackupBinary copies the installed binary to installed+".bak" with the
// same mode, atomically (CopyFile). A previous .bak is first renamed to
// .bak.1, replacing any older .bak.1, so the two most recent backups are
// kept. It returns the backup's path and whether a previous .bak was
// rotated.
//
// It is idempotent: when the .bak already has the installed binary's
// content (the backup was made and the process died before recording it),
// it is left as it is and .bak.1 is not rotated away. A crash between the
// rotation and the copy leaves .bak.1 and no .bak, which the next call
// completes.
func BackupBinary(installed string) (bakPath string, rotated bool, err error) {
	fi, err := os.Stat(installed)
	if err != nil {
		return "", false, fmt.Errorf("back up %s: %w", installed, err)
	}
	if !fi.Mode().IsRegular() {
		return "", false, fmt.Errorf("back up %s: not a regular file (%v)", installed, fi.Mode().Type())
	}
	bak := installed + ".bak"
	if same, err := sameContent(installed, bak); err != nil {
		return "", false, fmt.Errorf("back up %s: %w", installed, err)
	} else if same {
		return bak, false, nil
	}
	dir := filepath.Dir(installed)
	if _, err := os.Lstat(bak); err == nil {
		rotated = true
		if err := rename(bak, bak+".1"); err != nil {
			return "", false, explain("back up", installed, dir, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("back up %s: %w", installed, err)
	}
	mode := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if _, err := CopyFile(installed, bak, mode); err != nil {
		var nw *NotWritableError
		if errors.As(err, &nw) {
			nw.Op, nw.Path = "back up", installed
		}
		return "", false, err
	}
	return bak, rotated, nil
}

// sameContent reports whether the regular files a and b exist and have
// the same bytes. A missing b is not an error.
func sameContent(a, b string) (bool, error) {
	fb, err := os.Stat(b)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	if !fb.Mode().IsRegular() || fa.Size() != fb.Size() {
		return false, nil
	}
	ra, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer ra.Close()
	rb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer rb.Close()
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(ra, bufA)
		nb, errB := io.ReadFull(rb, bufB)
		if !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		endA := errors.Is(errA, io.EOF) || errors.Is(errA, io.ErrUnexpectedEOF)
		endB := errors.Is(errB, io.EOF) || errors.Is(errB, io.ErrUnexpectedEOF)
		switch {
		case errA != nil && !endA:
			return false, errA
		case errB != nil && !endB:
			return false, errB
		case endA || endB:
			return endA && endB, nil
		}
	}
}

// Promote puts the staged binary in place of the installed one with one
// rename(2), then fsyncs the directory (both directories if they differ).
// The installed path names the old binary until the instant it names the
// new one: there is never an instant without a binary there. staged keeps
// its mode; it must be a regular file on the same filesystem as installed,
// best in the same directory.
//
// A read-only filesystem (EROFS) or a permission error (EACCES, EPERM)
// gives a *NotWritableError naming the path and what to do; staged is then
// left where it was.
func Promote(staged, installed string) error {
	fi, err := os.Lstat(staged)
	if err != nil {
		return fmt.Errorf("promote %s: %w", staged, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("promote %s: not a regular file (%v)", staged, fi.Mode().Type())
	}
	if fi, err := os.Lstat(installed); err == nil && fi.IsDir() {
		return fmt.Errorf("promote %s: %s is a directory", staged, installed)
	}
	dir := filepath.Dir(installed)
	if err := rename(staged, installed); err != nil {
		if errors.Is(err, syscall.EXDEV) {
			return fmt.Errorf("promote %s: it is on another filesystem than %s, so it cannot be renamed into place atomically: stage it in %s: %w", staged, installed, dir, err)
		}
		return explain("replace", installed, dir, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("promote %s: %w", staged, err)
	}
	if sdir := filepath.Dir(staged); sdir != dir {
		if err := SyncDir(sdir); err != nil {
			return fmt.Errorf("promote %s: %w", staged, err)
		}
	}
	return nil
}

// PruneBackups removes the regular files in dir whose names match pattern
// (filepath.Match syntax), except the keep most recent: newest modification
// time first, and for equal times the name that sorts last. keep must be at
// least 1, so that a zero setting never deletes every backup. Other files
// are never touched. It tries every removal, returns their errors joined,
// and syncs dir.
func PruneBackups(dir, pattern string, keep int) error {
	if keep < 1 {
		return fmt.Errorf("prune backups in %s: keep must be at least 1, got %d", dir, keep)
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return fmt.Errorf("prune backups in %s: pattern %q: %w", dir, pattern, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("prune backups: %w", err)
	}
	type backup struct {
		name string
		fi   fs.FileInfo
	}
	var backups []backup
	for _, e := range entries {
		if ok, _ := filepath.Match(pattern, e.Name()); !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("prune backups in %s: %w", dir, err)
		}
		backups = append(backups, backup{e.Name(), fi})
	}
	if len(backups) <= keep {
		return nil
	}
	slices.SortFunc(backups, func(a, b backup) int {
		if c := b.fi.ModTime().Compare(a.fi.ModTime()); c != 0 {
			return c
		}
		return strings.Compare(b.name, a.name)
	})
	var errs []error
	for _, b := range backups[keep:] {
		if err := os.Remove(filepath.Join(dir, b.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := SyncDir(dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("prune backups in %s: %w", dir, errors.Join(errs...))
	}
	return nil
}
