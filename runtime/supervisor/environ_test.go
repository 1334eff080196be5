package supervisor

import (
	"slices"
	"testing"

	"github.com/tenement/ten/runtime/config"
)

func TestTenantEnvIsAnAllowlist(t *testing.T) {
	server := []string{
		"PATH=/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C", "LC_TIME=en_GB", "TZ=UTC", "TMPDIR=/tmp", "USER=root",
		"TENEMENT_TOKEN=admin-secret", "SECRET_CANARY=x", "AWS_SECRET_ACCESS_KEY=k", "TEN_HEALTH_NONCE=n",
		"LISTEN_FDS=3", "LISTEN_PID=1", "NOTIFY_SOCKET=/run/x", "DATABASE_URL=postgres://db", "PORT=1", "BROKEN",
	}
	set := map[string]string{"PORT": "30001", "SOCKET_PATH": "/tmp/tenement/web-a.sock"}
	base := []string{
		"HOME=/root", "LANG=C.UTF-8", "LC_ALL=C", "LC_TIME=en_GB", "PATH=/bin",
		"PORT=30001", "SOCKET_PATH=/tmp/tenement/web-a.sock", "TMPDIR=/tmp", "TZ=UTC", "USER=root",
	}
	tests := []struct {
		name        string
		env         map[string]string
		passthrough []string
		want        []string
	}{
		{"allowlist only", nil, nil, base},
		{"passthrough adds named variables", nil, []string{"DATABASE_URL", "NOT_SET"},
			sorted(append(slices.Clone(base), "DATABASE_URL=postgres://db"))},
		{"passthrough cannot pass the server's sockets", nil, []string{"LISTEN_FDS", "NOTIFY_SOCKET"}, base},
		{"service env overrides the allowlist, ten's variables override both",
			map[string]string{"HOME": "{data_dir}/{name}/{id}", "DB": "{data_dir}/{id}.db", "PORT": "9"}, nil,
			sorted(append(replace(base, "HOME=/root", "HOME=/srv/web/a"), "DB=/srv/a.db"))},
		{"an operator may still hand a tenant a token on purpose",
			map[string]string{"TENEMENT_TOKEN": "tenant-token"}, nil,
			sorted(append(slices.Clone(base), "TENEMENT_TOKEN=tenant-token"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := config.DefaultService()
			if tt.env != nil {
				svc.Env = tt.env
			}
			svc.EnvPassthrough = tt.passthrough
			got := tenantEnv(server, svc, config.Vars{Name: "web", ID: "a", DataDir: "/srv", Port: 30001}, set)
			if !slices.Equal(got, tt.want) {
				t.Errorf("env\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

func replace(s []string, old, new string) []string {
	out := slices.Clone(s)
	out[slices.Index(out, old)] = new
	return out
}
