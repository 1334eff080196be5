package nginxconf

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name, got string
		want      []string
	}{
		{"main", Main("/d", 8080), []string{"pid /d/nginx.pid;", "include /d/ten-upstream.conf;", "listen 127.0.0.1:8080;", "proxy_pass http://ten;"}},
		{"http", HTTP("/d", "include ten.conf;"), []string{"error_log /d/error.log notice;", "\n    include ten.conf;\n}\n"}},
		{"upstream", Upstream("127.0.0.1:1"), []string{"upstream ten {\n    server 127.0.0.1:1;\n"}},
		{"caddyfile", Caddyfile(2, 3, "127.0.0.1:4", "extra {}\n"), []string{"admin 127.0.0.1:2", "http://:3 {", "# ten-upgrade:begin\n\treverse_proxy 127.0.0.1:4\n\t# ten-upgrade:end", "}\nextra {}\n"}},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.got, w) {
				t.Errorf("%s: no %q in\n%s", tc.name, w, tc.got)
			}
		}
	}
}
