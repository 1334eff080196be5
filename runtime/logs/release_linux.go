package logs

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// punchHole frees the disk blocks of f's first n bytes without changing its
// size or any offset: the range reads as zeros from then on. A tenant
// appending (O_APPEND) at the same time is unaffected, as its writes land
// past the range.
func punchHole(f *os.File, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, n)
}

// isNotSupported reports a filesystem (or kernel) without hole punching.
func isNotSupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}
