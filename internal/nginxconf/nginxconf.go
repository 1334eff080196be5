// Package nginxconf renders the proxy configurations the upgrade tests
// and the benchmark run a real nginx or Caddy with: everything under one
// directory, listening on loopback, proxying to the upstream that
// ten-upgrade's drivers manage (the nginx upstream "ten" in
// ten-upstream.conf, as examples/nginx/ten.conf; the Caddyfile block
// between the ten-upgrade markers).
package nginxconf

import (
	"fmt"
	"os"
)

// UpstreamFile is the include ten-upgrade rewrites, inside the directory.
const UpstreamFile = "ten-upstream.conf"

// Main is nginx.conf for an nginx whose pid file, logs and temp paths are in
// dir, serving 127.0.0.1:port.
func Main(dir string, port int) string {
	return HTTP(dir, fmt.Sprintf(`include %[1]s/%[2]s;
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://ten;
            proxy_set_header Host $host;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 5s;
            proxy_next_upstream error timeout;
        }
    }`, dir, UpstreamFile, port))
}

// HTTP is nginx.conf for an nginx whose pid file, logs and temp paths are
// in dir, with body (servers, includes) in its http block.
func HTTP(dir, body string) string {
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the temp paths in dir
	}
	return fmt.Sprintf(`%[2]s
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    %[3]s
}
`, dir, user, body)
}

// Upstream is the initial ten-upstream.conf: ten serve at addr.
func Upstream(addr string) string {
	return fmt.Sprintf("upstream ten {\n    server %s;\n    keepalive 16;\n}\n", addr)
}

// Caddyfile serves plain HTTP on 127.0.0.1:port through to upstream, with
// the admin API on 127.0.0.1:admin; extra is appended (more sites).
func Caddyfile(admin, port int, upstream, extra string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
}
http://:%d {
	bind 127.0.0.1
	# ten-upgrade:begin
	reverse_proxy %s
	# ten-upgrade:end
}
%s`, admin, port, upstream, extra)
}
