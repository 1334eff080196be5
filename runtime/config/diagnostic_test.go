package config

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestDiagnosticString(t *testing.T) {
	tests := []struct {
		d    Diagnostic
		want string
	}{
		{
			Diagnostic{Severity: SeverityWarning, File: "tenement.toml", Line: 12, Key: "service.api.helth",
				Message: "unknown key service.api.helth", Hint: `did you mean "health"?`},
			`tenement.toml:12: unknown key service.api.helth (did you mean "health"?)`,
		},
		{
			Diagnostic{Severity: SeverityError, File: "/etc/ten/tenement.toml", Line: 3, Message: "service.api: command is required"},
			"/etc/ten/tenement.toml:3: service.api: command is required",
		},
		{
			Diagnostic{Severity: SeverityError, File: "tenement.toml", Message: "m"},
			"tenement.toml: m",
		},
		{
			Diagnostic{Severity: SeverityError, Line: 7, Message: "m", Hint: "h"},
			"line 7: m (h)",
		},
		{
			Diagnostic{Severity: SeverityError, Message: "m"},
			"m",
		},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestDiagnosticJSON(t *testing.T) {
	d := Diagnostic{Severity: SeverityWarning, Message: "m"}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"severity":"warning","message":"m"}`; got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
	d = Diagnostic{Severity: SeverityError, File: "f", Line: 2, Key: "k", Message: "m", Hint: "h"}
	b, _ = json.Marshal(d)
	if got, want := string(b), `{"severity":"error","file":"f","line":2,"key":"k","message":"m","hint":"h"}`; got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}

func TestHasErrorsAndFilter(t *testing.T) {
	w := Diagnostic{Severity: SeverityWarning, Message: "w"}
	e := Diagnostic{Severity: SeverityError, Message: "e"}
	tests := []struct {
		ds       []Diagnostic
		hasErr   bool
		errs     int
		warnings int
	}{
		{nil, false, 0, 0},
		{[]Diagnostic{w, w}, false, 0, 2},
		{[]Diagnostic{w, e, w}, true, 1, 2},
		{[]Diagnostic{e}, true, 1, 0},
	}
	for _, tt := range tests {
		if got := HasErrors(tt.ds); got != tt.hasErr {
			t.Errorf("HasErrors(%v) = %v, want %v", tt.ds, got, tt.hasErr)
		}
		if got := Filter(tt.ds, SeverityError); len(got) != tt.errs {
			t.Errorf("Filter(%v, error) = %v", tt.ds, got)
		}
		if got := Filter(tt.ds, SeverityWarning); len(got) != tt.warnings {
			t.Errorf("Filter(%v, warning) = %v", tt.ds, got)
		}
	}
}

func TestSortDiagnostics(t *testing.T) {
	ds := []Diagnostic{
		{Severity: SeverityWarning, Message: "no line"},
		{Severity: SeverityWarning, Line: 5, Key: "b", Message: "5b warning"},
		{Severity: SeverityError, Line: 5, Key: "b", Message: "5b error"},
		{Severity: SeverityError, Line: 5, Key: "a", Message: "5a"},
		{Severity: SeverityError, Line: 1, Message: "1"},
	}
	sortDiagnostics(ds)
	var got []string
	for _, d := range ds {
		got = append(got, d.Message)
	}
	want := []string{"1", "5a", "5b error", "5b warning", "no line"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted = %q, want %q", got, want)
	}
}
