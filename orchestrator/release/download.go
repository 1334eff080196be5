package release

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// DefaultMaxSize caps every download and every unpacked file.
const DefaultMaxSize int64 = 512 << 20

// smallFileMax caps checksums.txt and its signature.
const smallFileMax int64 = 1 << 20

// TerminalProgress returns f when it is a terminal, for a progress bar, and
// nil otherwise (logs, CI, pipes get no progress output).
func TerminalProgress(f *os.File) io.Writer {
	if f == nil || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return f
}

// saveStream copies body to a new file called name in dir, hashing it on
// the way. The file is created through an os.Root on dir, so that no name
// can put it anywhere else. It stops at max bytes, and when expect > 0 it
// insists on exactly expect bytes, so a cut-off transfer is never mistaken
// for a complete one. progress, when not nil, gets a progress bar.
func saveStream(body io.Reader, dir, name, label string, expect, max int64, progress io.Writer) (sum string, n int64, err error) {
	if expect > max {
		return "", 0, fmt.Errorf("%s is %s, more than the %s download cap (raise it with --max-size)", label, size(expect), size(max))
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", 0, err
	}
	defer root.Close()
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()

	h := sha256.New()
	var w io.Writer = io.MultiWriter(f, h)
	if progress != nil {
		total := expect
		if total <= 0 {
			total = -1
		}
		bar := progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(progress),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
		defer bar.Close()
		w = io.MultiWriter(w, quiet{bar})
	}

	limit := max
	if expect > 0 {
		limit = expect
	}
	n, err = io.Copy(w, io.LimitReader(body, limit+1))
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "", n, fmt.Errorf("%s: the connection closed after %s%s; the download is incomplete, try again", label, size(n), of(expect))
	case err != nil:
		return "", n, fmt.Errorf("%s: download failed after %s: %w", label, size(n), err)
	case n > max:
		return "", n, fmt.Errorf("%s is larger than the %s download cap (raise it with --max-size)", label, size(max))
	case expect > 0 && n < expect:
		return "", n, fmt.Errorf("%s: got %s of %s; the download is incomplete, try again", label, size(n), size(expect))
	case expect > 0 && n > expect:
		return "", n, fmt.Errorf("%s: got more than the announced %s; refusing it", label, size(expect))
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// quiet keeps a progress bar's errors (e.g. more bytes than announced) out
// of the download: the bar is decoration.
type quiet struct{ w io.Writer }

func (q quiet) Write(p []byte) (int, error) {
	q.w.Write(p) //nolint:errcheck // decoration only
	return len(p), nil
}

func of(expect int64) string {
	if expect <= 0 {
		return ""
	}
	return " of " + size(expect)
}

// size formats a byte count for messages.
func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
