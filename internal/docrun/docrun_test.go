package docrun

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	md := "text\n```sh expect=\"a b\" expect=c needs=caddy\necho a b c\n```\n" +
		"```toml\nx = 1\n```\n" +
		"```sh no-run: needs systemd\nsystemctl reload tenement\n```\n"
	bs, err := Parse(md)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 3 {
		t.Fatalf("got %d blocks", len(bs))
	}
	b := bs[0]
	if !b.Shell() || b.NoRun || b.Line != 2 || b.Code != "echo a b c\n" ||
		!slices.Equal(b.Expect, []string{"a b", "c"}) || !slices.Equal(b.Needs, []string{"caddy"}) {
		t.Errorf("block 0 = %+v", b)
	}
	if bs[1].Shell() {
		t.Errorf("toml block taken for shell")
	}
	if !bs[2].NoRun || bs[2].Reason != "needs systemd" {
		t.Errorf("block 2 = %+v", bs[2])
	}
}

func TestParseRefuses(t *testing.T) {
	for md, want := range map[string]string{
		"```\nls\n```\n":                  "without a language",
		"```bash\nls\n```\n":              "use sh",
		"```sh no-run\nls\n```\n":         "without a reason",
		"```sh wait=5\nls\n```\n":         "unknown attribute",
		"```sh expect=x stray\nls\n```\n": "cannot read",
		"```sh\nls\n":                     "not closed",
	} {
		_, err := Parse(md)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", md, err, want)
		}
	}
}
