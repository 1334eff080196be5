package site

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestInstances(t *testing.T) {
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{APITenants, "api = [\"a\", \"b\", \"c\"]\n"},
		{[]string{"api:a", "slow:s", "api:b"}, "api = [\"a\", \"b\"]\nslow = [\"s\"]\n"},
		{nil, ""},
	} {
		if got := instances(tc.ids); got != tc.want {
			t.Errorf("instances(%v) = %q, want %q", tc.ids, got, tc.want)
		}
	}
}

func TestTestappService(t *testing.T) {
	want := "[service.web]\ncommand = \"@TENANT@\"\n[service.web.env]\nTESTAPP_NAME = \"{id}\"\n"
	if got := TestappService("web"); got != want {
		t.Errorf("TestappService = %q, want %q", got, want)
	}
}

func TestEnviron(t *testing.T) {
	t.Setenv("TEN_CONFIG", "/elsewhere")
	t.Setenv("TENEMENT_DATA_DIR", "/elsewhere")
	t.Setenv("XDG_CONFIG_HOME", "/home")
	t.Setenv("TMPDIR", "/tmp/x")
	t.Setenv("KEEP_ME", "1")
	got := Environ("MARK=1")
	for _, kv := range got {
		for _, p := range []string{"TEN_", "TENEMENT_", "XDG_", "TMPDIR="} {
			if strings.HasPrefix(kv, p) {
				t.Errorf("kept %s", kv)
			}
		}
	}
	if !slices.Contains(got, "KEEP_ME=1") || got[len(got)-1] != "MARK=1" {
		t.Errorf("Environ = %v", got)
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if err := Poll(context.Background(), time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 3 {
		t.Errorf("Poll = %v after %d calls", err, n)
	}
	err := Poll(context.Background(), 50*time.Millisecond, func() error { return errors.New("never") })
	if err == nil || !strings.Contains(err.Error(), "never") {
		t.Errorf("Poll timed out with %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Poll(ctx, time.Minute, func() error { return errors.New("x") }); !errors.Is(err, context.Canceled) {
		t.Errorf("Poll with a cancelled context = %v", err)
	}
}
