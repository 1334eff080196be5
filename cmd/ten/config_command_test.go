package main

import (
	"strings"
	"testing"
)

// A command line is split with shell-words rules as tenement does
// (tenement hypervisor.rs:260-275); `ten config --check` reports one that
// cannot be split, with its file, line and key and how to fix it.
func TestConfigCheckReportsUnterminatedQuote(t *testing.T) {
	path := writeConfig(t, "[service.web]\ncommand = \"python3 -c 'print(1)\"\n")
	code, out, stderr := runTen(t, "config", "--check", "--config", path)
	all := out + stderr
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, all)
	}
	for _, want := range []string{
		path + ":2",
		"service.web.command: unterminated single quote (') opened at character 12",
		"close the quote",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("output lacks %q:\n%s", want, all)
		}
	}
}
