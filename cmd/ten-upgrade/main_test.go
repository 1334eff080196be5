package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tenement/ten/version"
)

func TestVersionAndHelpListSubcommands(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "ten-upgrade "+version.Version+"\n"; got != want {
		t.Fatalf("--version = %q, want %q", got, want)
	}

	root = newRootCmd()
	out.Reset()
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"check", "run", "rollback", "status", "history"} {
		if !strings.Contains(out.String(), "  "+sub+" ") {
			t.Errorf("--help does not list %q:\n%s", sub, out.String())
		}
	}
}
