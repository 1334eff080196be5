package server_test

import (
	"encoding/json"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"
)

// probeTenant tries, as a tenant, to reach what only ten may: the admin
// token file, the state database and the control socket. It then serves
// what it found.
const probeTenant = `
import json, os, socket, http.server
res = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
for key in ("TOKEN_PATH", "DB_PATH"):
    try:
        open(os.environ[key], "rb").read(1)
        res[key] = "read"
    except Exception as e:
        res[key] = type(e).__name__
try:
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.environ["SOCK_PATH"])
    res["SOCK_PATH"] = "connected"
except Exception as e:
    res["SOCK_PATH"] = type(e).__name__
try:
    with open("own-data", "w") as f:
        f.write("x")
    res["own"] = "written"
except Exception as e:
    res["own"] = type(e).__name__
body = json.dumps(res).encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`

// TestTenantCannotReachTensFilesAsRoot runs ten as root (as a plain
// `ten serve` or a unit with User=root does) with a service that sets no
// user: its tenant must run as the tenement user, unable to read api_token
// or tenement.db or to connect to ten.sock, and still able to write its
// own data directory.
func TestTenantCannotReachTensFilesAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the default tenant user applies when ten runs as root")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3 (scripts/install-test-deps)")
	}
	code := strings.ReplaceAll(probeTenant, `"`, `\"`)
	code = strings.ReplaceAll(code, "\n", `\n`)
	e := newEnv(t, `[service.probe]
command = "/usr/bin/python3"
args = ["-c", "`+code+`"]
health = ""
workdir = "{data_dir}/{name}/{id}"
[service.probe.env]
TOKEN_PATH = "{data_dir}/api_token"
DB_PATH = "{data_dir}/tenement.db"
SOCK_PATH = "{data_dir}/ten.sock"
`)
	e.adminToken(t)
	s := e.startServer(t)
	e.mustCLI(t, s, "spawn", "probe", "--id", "one")
	_, body, _ := s.request(t, "GET", "one.probe.localhost", "/", nil, nil)
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("tenant answered %q: %v", body, err)
	}
	u, err := user.Lookup("tenement")
	if err != nil {
		t.Fatalf("the tenement user was not created: %v", err)
	}
	if uid := strconv.Itoa(int(got["uid"].(float64))); uid != u.Uid {
		t.Errorf("tenant uid %s, want tenement's %s", uid, u.Uid)
	}
	if groups := got["groups"].([]any); len(groups) != 0 && !(len(groups) == 1 && strconv.Itoa(int(groups[0].(float64))) == u.Gid) {
		t.Errorf("tenant kept supplementary groups %v", groups)
	}
	for key, want := range map[string]string{"TOKEN_PATH": "PermissionError", "DB_PATH": "PermissionError", "SOCK_PATH": "PermissionError", "own": "written"} {
		if got[key] != want {
			t.Errorf("tenant %s: %v, want %s (all: %v)", key, got[key], want, got)
		}
	}
}
