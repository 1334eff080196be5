package config

import (
	"errors"
	"slices"
	"testing"
)

// The expectations are those of the shell-words crate's split, which
// tenement uses to split a command when args is empty (tenement
// hypervisor.rs:260-275).
func TestSplitWordsAsShellWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{"   \t\n ", []string{}},
		{"python3 -m http.server {port}", []string{"python3", "-m", "http.server", "{port}"}},
		{"a  b\tc\nd", []string{"a", "b", "c", "d"}},
		{`'single quoted' x`, []string{"single quoted", "x"}},
		{`'keeps \ and "' x`, []string{`keeps \ and "`, "x"}},
		{`"double quoted"`, []string{"double quoted"}},
		{`"esc \" \\ \$ \` + "`" + `"`, []string{`esc " \ $ ` + "`"}},
		// Inside double quotes a backslash before another character stays.
		{`"a\nb"`, []string{`a\nb`}},
		{"\"line\\\ncont\"", []string{"linecont"}},
		{`a\ b`, []string{"a b"}},
		{`\"x`, []string{`"x`}},
		{"a\\\nb", []string{"ab"}},
		{"a \\\nb", []string{"a", "b"}},
		{`con"cat"'en'ated`, []string{"concatenated"}},
		{`"" ''`, []string{"", ""}},
		{"cmd # a comment\nnext", []string{"cmd", "next"}},
		{"a#b", []string{"a#b"}},
		{"# only a comment", []string{}},
		{`trailing\`, []string{`trailing\`}},
		{`x \`, []string{"x", `\`}},
		{"sh -c 'echo $HOME && exit 1'", []string{"sh", "-c", "echo $HOME && exit 1"}},
		{"ünïcödé 'ök'", []string{"ünïcödé", "ök"}},
	}
	for _, tt := range tests {
		got, err := SplitWords(tt.in)
		if err != nil {
			t.Errorf("SplitWords(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("SplitWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitWordsUnterminatedQuote(t *testing.T) {
	tests := []struct {
		in     string
		quote  rune
		offset int
		msg    string
	}{
		{`python3 -c 'print(1)`, '\'', 11, "unterminated single quote (') opened at character 12"},
		{`app "--name=x`, '"', 4, `unterminated double quote (") opened at character 5`},
		{`app "x\"`, '"', 4, `unterminated double quote (") opened at character 5`},
		{`app "ok" 'bad`, '\'', 9, "unterminated single quote (') opened at character 10"},
	}
	for _, tt := range tests {
		_, err := SplitWords(tt.in)
		var qe *QuoteError
		if !errors.As(err, &qe) {
			t.Errorf("SplitWords(%q) error = %v, want a *QuoteError", tt.in, err)
			continue
		}
		if qe.Quote != tt.quote || qe.Offset != tt.offset || err.Error() != tt.msg {
			t.Errorf("SplitWords(%q) = %+v %q, want %c at %d, %q", tt.in, qe, err, tt.quote, tt.offset, tt.msg)
		}
	}
}

// tenement interpolates {name}, {id}, {data_dir}, {socket} and {port} in
// the command and args (tenement config.rs:495-510) and splits the command
// when args is empty (hypervisor.rs:260-275).
func TestArgvSplitsCommandWhenArgsEmpty(t *testing.T) {
	vars := Vars{Name: "web", ID: "alice", DataDir: "/srv/my data", Port: 30001}
	tests := []struct {
		command string
		args    []string
		want    []string
	}{
		{"python3 -m http.server {port}", nil, []string{"python3", "-m", "http.server", "30001"}},
		{"./app --db {data_dir}/{name}/{id}/app.db --sock {socket}", nil,
			[]string{"./app", "--db", "/srv/my data/web/alice/app.db", "--sock", "/tmp/tenement/web-alice.sock"}},
		{`sh -c 'exec ./server --port "$PORT"'`, nil, []string{"sh", "-c", `exec ./server --port "$PORT"`}},
		// With args, the command is the program as written, even with spaces.
		{"/opt/my app/bin", []string{"--id", "{id}"}, []string{"/opt/my app/bin", "--id", "alice"}},
	}
	for _, tt := range tests {
		s := DefaultService()
		s.Command = tt.command
		if tt.args != nil {
			s.Args = tt.args
		}
		got, err := s.Argv(vars)
		if err != nil {
			t.Errorf("Argv(%q): %v", tt.command, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Argv(%q, %q) = %q, want %q", tt.command, tt.args, got, tt.want)
		}
	}
}

func TestArgvErrors(t *testing.T) {
	for _, command := range []string{"", "   ", "# nothing", `app 'x`} {
		s := DefaultService()
		s.Command = command
		if argv, err := s.Argv(Vars{}); err == nil {
			t.Errorf("Argv(%q) = %q, want an error", command, argv)
		}
	}
}
