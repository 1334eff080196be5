// Command demo is `make demo`: it builds ten 1.0.0 and 1.1.0, starts 1.0.0
// with three tenants under constant load, upgrades it with `ten-upgrade
// run`, and prints the versions, the upgrade's duration, the failed and
// total requests, and the tenants' pids before and after.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tenement/ten/internal/loadgen"
)

const config = `[settings]
data_dir = %q
health_check_interval = 1

[service.api]
command = %q
[service.api.env]
TESTAPP_NAME = "{id}"

[instances]
api = ["alice", "bob", "carol"]

[upgrade]
binary_path = %q
`

func main() {
	dir := flag.String("dir", ".demo", "work directory (a directory an earlier demo made is emptied first)")
	strategy := flag.String("strategy", "auto", "ten-upgrade --strategy")
	watch := flag.String("watch", "5s", "ten-upgrade --watch")
	flag.Parse()
	if err := run(*dir, *strategy, *watch); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// marker names the demo's own work directories: only those are removed
// when the demo starts again.
const marker = ".ten-demo"

// freshDir empties dir for a new run, refusing a directory the demo did
// not make (a mistyped --dir must not wipe anything).
func freshDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("--dir %s exists and was not made by the demo: name a new directory, or remove it yourself", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, marker), nil, 0o644)
}

func run(dir, strategy, watch string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := freshDir(dir); err != nil {
		return err
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	step("building ten 1.0.0, ten 1.1.0, ten-upgrade and a demo tenant")
	builds := [][]string{
		{filepath.Join(bin, "ten"), "-ldflags", "-X github.com/tenement/ten/version.Version=1.0.0", "./cmd/ten"},
		{filepath.Join(dir, "ten-1.1.0"), "-ldflags", "-X github.com/tenement/ten/version.Version=1.1.0", "./cmd/ten"},
		{filepath.Join(dir, "ten-upgrade"), "./cmd/ten-upgrade"},
		{filepath.Join(dir, "tenant"), "./internal/testapp"},
	}
	for _, b := range builds {
		cmd := exec.Command("go", append([]string{"build", "-trimpath", "-o", b[0]}, b[1:]...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := cmd.Run(); err != nil {
			return err
		}
	}
	ten := filepath.Join(bin, "ten")
	cfg := filepath.Join(dir, "tenement.toml")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(config, data, filepath.Join(dir, "tenant"), ten)), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command(ten, "--config", cfg, "token-gen").CombinedOutput(); err != nil {
		return fmt.Errorf("token-gen: %v %s", err, out)
	}
	tok, _ := os.ReadFile(filepath.Join(data, "api_token"))
	token := strings.TrimSpace(string(tok))

	port, err := freePort()
	if err != nil {
		return err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	step("starting ten 1.0.0 on %s with three tenants", url)
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return err
	}
	srv := exec.Command(ten, "serve", "--config", cfg, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	srv.Stdout, srv.Stderr = logf, logf
	srv.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := srv.Start(); err != nil {
		return err
	}
	go srv.Wait()
	defer stopServer(data, url)

	before, err := waitTenants(url, token)
	if err != nil {
		return err
	}
	v0 := version(url)

	step("sending constant load to alice.api.localhost (6 clients, half keep-alive, half fresh connections)")
	stop := loadgen.Start(context.Background(), loadgen.Options{URLs: []string{url}, Host: "alice.api.localhost", Workers: 6, Interval: 2 * time.Millisecond})
	time.Sleep(time.Second)

	step("ten-upgrade run --binary ten-1.1.0 --strategy %s --watch %s --yes", strategy, watch)
	start := time.Now()
	up := exec.Command(filepath.Join(dir, "ten-upgrade"), "--config", cfg, "run", "--binary", filepath.Join(dir, "ten-1.1.0"),
		"--strategy", strategy, "--watch", watch, "--yes")
	up.Stdout, up.Stderr = os.Stdout, os.Stderr
	upErr := up.Run()
	took := time.Since(start)
	time.Sleep(time.Second)
	res := stop()

	after, _ := waitTenants(url, token)
	v1 := version(url)
	fmt.Println()
	fmt.Println("=== demo result ===")
	fmt.Printf("version:   %s -> %s\n", v0, v1)
	fmt.Printf("upgrade:   %s (ten-upgrade run, watch window included)\n", took.Round(time.Millisecond))
	fmt.Printf("requests:  %d failed / %d total (p50 %s, p99 %s)\n", res.Failed, res.Sent, res.Percentile(50), res.Percentile(99))
	if res.Failed > 0 {
		fmt.Printf("           failures: %v %v\n", res.ByKind, res.FirstErrors)
	}
	fmt.Println("tenants:   id      pid before  pid after")
	for _, id := range []string{"api:alice", "api:bob", "api:carol"} {
		mark := "same process"
		if before[id] != after[id] {
			mark = "RESTARTED"
		}
		fmt.Printf("           %-9s %-10d  %-10d %s\n", id, before[id], after[id], mark)
	}
	if upErr != nil {
		return fmt.Errorf("ten-upgrade run: %v", upErr)
	}
	return nil
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func version(url string) string {
	resp, err := http.Get(url + "/health")
	if err != nil {
		return "(down)"
	}
	defer resp.Body.Close()
	var h struct {
		Version string `json:"version"`
		PID     int    `json:"pid"`
	}
	json.NewDecoder(resp.Body).Decode(&h)
	return fmt.Sprintf("ten %s (pid %d)", h.Version, h.PID)
}

func waitTenants(url, token string) (map[string]int, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", url+"/api/instances", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var list []struct {
				ID    string `json:"id"`
				PID   int    `json:"pid"`
				State string `json:"state"`
			}
			json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			pids := map[string]int{}
			for _, in := range list {
				if in.State == "running" {
					pids[in.ID] = in.PID
				}
			}
			if len(pids) == 3 {
				return pids, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("the tenants did not start on %s", url)
}

// stopServer stops whichever server runs now (the upgrade replaced the
// one the demo started).
func stopServer(data, url string) {
	resp, err := http.Get(url + "/health")
	if err != nil {
		return
	}
	var h struct{ PID int }
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h.PID > 0 {
		syscall.Kill(h.PID, syscall.SIGTERM)
		for i := 0; i < 100 && syscall.Kill(h.PID, 0) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	_ = data
}
