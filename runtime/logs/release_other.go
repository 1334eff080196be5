//go:build !linux

package logs

import (
	"errors"
	"os"
)

// punchHole is only implemented on Linux; elsewhere log files keep their
// indexed bytes.
func punchHole(*os.File, int64) error { return errors.ErrUnsupported }

func isNotSupported(error) bool { return false }
