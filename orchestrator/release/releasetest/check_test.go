package releasetest

import (
	"errors"
	"runtime"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing; like
// the real one, Fatal ends the goroutine.
type recorder struct {
	testing.TB
	failed, fatal bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.Fatalf("") }
func (r *recorder) Fatalf(string, ...any) {
	r.failed, r.fatal = true, true
	runtime.Goexit()
}

func TestWantErr(t *testing.T) {
	boom := errors.New("boom: disk full")
	for _, tc := range []struct {
		name          string
		err           error
		parts         []string
		want          bool // what WantErr returns, unless it fails fatally
		failed, fatal bool
	}{
		{"no error wanted, none", nil, nil, false, false, false},
		{"no error wanted, one", boom, nil, false, true, true},
		{"empty part, no error", nil, []string{""}, false, false, false},
		{"error wanted, none", nil, []string{"boom"}, false, true, true},
		{"error wanted and mentioned", boom, []string{"boom", "disk full"}, true, false, false},
		{"error wanted, not mentioned", boom, []string{"boom", "quota"}, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			var got bool
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = WantErr(r, tc.err, tc.parts...)
			}()
			<-done
			if r.failed != tc.failed || r.fatal != tc.fatal {
				t.Errorf("failed, fatal = %v, %v; want %v, %v", r.failed, r.fatal, tc.failed, tc.fatal)
			}
			if !r.fatal && got != tc.want {
				t.Errorf("WantErr = %v, want %v", got, tc.want)
			}
		})
	}
}
