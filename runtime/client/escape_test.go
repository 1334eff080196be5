package client

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/logs"
)

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"tab\tkept", "tab\tkept"},
		{"\x1b]0;pwned\x07\x1b[2J", `\x1b]0;pwned\x07\x1b[2J`},
		{"cr\rhides the line", `cr\x0dhides the line`},
		{"nl\nsplits", `nl\x0asplits`},
		{"del\x7f", `del\x7f`},
		{"c1 csi \u009b2J", `c1 csi \u009b2J`},
		{"bad utf8 \xff\xfe", `bad utf8 \xff\xfe`},
		{"unicode ünïcödé ✓", "unicode ünïcödé ✓"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Printable(tt.in); got != tt.want {
			t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestFormatLogEntryEscapesTerminalControls is the `ten logs` text output
// for a tenant printing a terminal title and clear-screen sequence.
func TestFormatLogEntryEscapesTerminalControls(t *testing.T) {
	e := logs.Entry{Service: "api", InstanceID: "prod", Level: logs.Stdout, Message: "\x1b]0;pwned\x07\x1b[2J", Timestamp: time.Now()}
	got := FormatLogEntry(e)
	if want := `[OUT] api:prod \x1b]0;pwned\x07\x1b[2J`; got != want {
		t.Errorf("FormatLogEntry = %q, want %q", got, want)
	}
}

func TestWritePSEscapesServerStrings(t *testing.T) {
	var b strings.Builder
	if err := WritePS(&b, []api.Instance{{ID: "api:\x1b[2J", Listen: "127.0.0.1:1", Health: "\x1b]0;x\x07", State: "running"}}); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Errorf("ps output has raw control characters: %q", b.String())
	}
}

func TestLogPrinterJSONKeepsExactMessage(t *testing.T) {
	msg := "\x1b]0;pwned\x07\x1b[2J"
	var b strings.Builder
	if err := LogPrinter(&b, true)(logs.Entry{Service: "api", InstanceID: "prod", Level: logs.Stdout, Message: msg}); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Errorf("JSON output has raw control characters: %q", b.String())
	}
	var e logs.Entry
	if err := json.Unmarshal([]byte(b.String()), &e); err != nil || e.Message != msg {
		t.Errorf("decoded %q, %v; want the exact message %q", e.Message, err, msg)
	}
	b.Reset()
	LogPrinter(&b, false)(logs.Entry{Service: "api", InstanceID: "prod", Level: logs.Stderr, Message: msg})
	if want := "[ERR] api:prod \\x1b]0;pwned\\x07\\x1b[2J\n"; b.String() != want {
		t.Errorf("text output %q, want %q", b.String(), want)
	}
}
