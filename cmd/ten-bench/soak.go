package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tenement/ten/internal/loadgen"
	"github.com/tenement/ten/internal/procmark"
)

// soakMain runs N upgrade/rollback cycles (A -> B -> A, handoff) on one
// installation under constant load, then looks for what they left behind:
// processes, file descriptors, temporary files, and checks the database.
func soakMain(args []string) int {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	n := fs.Int("n", 50, "upgrade/rollback cycles")
	rate := fs.Float64("rate", 100, "requests per second (open loop)")
	out := fs.String("out", "bin/bench", "directory for soak.json")
	work := fs.String("work", "", "work directory (default: a new temporary directory, removed afterwards)")
	keep := fs.Bool("keep", false, "keep the work directory")
	fs.Parse(args)
	rep, err := soak(*n, *rate, *work, *keep)
	if rep != nil {
		os.MkdirAll(*out, 0o755)
		js, _ := json.MarshalIndent(rep, "", "  ")
		os.WriteFile(filepath.Join(*out, "soak.json"), append(js, '\n'), 0o644)
		rep.print()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ten-bench soak:", err)
		return 1
	}
	return 0
}

type soakReport struct {
	Cycles          int            `json:"cycles"`
	CyclesDone      int            `json:"cycles_done"`
	RatePerS        float64        `json:"rate_per_s"`
	Sent            int            `json:"sent"`
	Failed          int            `json:"failed"`
	ByKind          map[string]int `json:"failed_by_kind"`
	UpgradeMS       stat           `json:"upgrade_ms"`
	RollbackMS      stat           `json:"rollback_ms"`
	DurationS       float64        `json:"duration_s"`
	Processes       [2]int         `json:"processes_before_after"`  // the site's live processes
	ServerFDs       [2]int         `json:"server_fds_before_after"` // without sockets
	TenantFDs       [2]int         `json:"tenant_fds_before_after"` // without sockets
	ServerFDKinds   map[string]int `json:"server_fd_kinds_after"`
	TenantRestarts  int            `json:"tenant_restarts"`
	TempFilesLeft   []string       `json:"temp_files_left"`
	StateFiles      map[string]int `json:"state_files"` // files under {data_dir}/upgrade by directory, at the end
	IntegrityOK     bool           `json:"integrity_ok"`
	IntegrityError  string         `json:"integrity_error,omitempty"`
	Errors          []string       `json:"errors,omitempty"`
	Leaks           []string       `json:"leaks,omitempty"`
	FinalVersion    string         `json:"final_version"`
	ServersAtTheEnd int            `json:"servers_at_the_end"`
}

func (r *soakReport) print() {
	fmt.Printf("\nsoak: %d/%d cycles (A -> B -> A, handoff) in %.0fs under %.0f req/s\n", r.CyclesDone, r.Cycles, r.DurationS, r.RatePerS)
	fmt.Printf("  requests:        %d failed / %d sent %v\n", r.Failed, r.Sent, r.ByKind)
	fmt.Printf("  upgrade:         median %.0fms [%.0f-%.0f]\n", r.UpgradeMS.Median, r.UpgradeMS.Min, r.UpgradeMS.Max)
	fmt.Printf("  rollback:        median %.0fms [%.0f-%.0f]\n", r.RollbackMS.Median, r.RollbackMS.Min, r.RollbackMS.Max)
	fmt.Printf("  processes:       %d before, %d after (%d ten serve at the end, ten %s)\n", r.Processes[0], r.Processes[1], r.ServersAtTheEnd, r.FinalVersion)
	fmt.Printf("  fds (no sockets): server %d -> %d, tenants %d -> %d; tenant restarts %d\n", r.ServerFDs[0], r.ServerFDs[1], r.TenantFDs[0], r.TenantFDs[1], r.TenantRestarts)
	fmt.Printf("  server fds now:  %v\n", r.ServerFDKinds)
	fmt.Printf("  temp files left: %d %v\n", len(r.TempFilesLeft), r.TempFilesLeft)
	fmt.Printf("  state files:     %v\n", r.StateFiles)
	fmt.Printf("  database:        integrity ok=%v %s\n", r.IntegrityOK, r.IntegrityError)
	for _, l := range r.Leaks {
		fmt.Printf("  LEAK: %s\n", l)
	}
	for _, e := range r.Errors {
		fmt.Printf("  ERROR: %s\n", firstLine(e))
	}
}

func soak(n int, rate float64, work string, keep bool) (*soakReport, error) {
	began := time.Now()
	work, b, cleanup, err := setup(work)
	if err != nil {
		return nil, err
	}
	if !keep {
		defer cleanup()
	}
	s, err := newSite(b, filepath.Join(work, "soak"))
	if err != nil {
		return nil, err
	}
	defer s.close()
	if err := s.start(); err != nil {
		return nil, err
	}
	rep := &soakReport{Cycles: n, RatePerS: rate, StateFiles: map[string]int{}}
	pids, err := s.waitTenants(s.url, 10*time.Second)
	if err != nil {
		return nil, err
	}
	h, _ := getHealth(s.url)
	rep.Processes[0] = len(procmark.Find(s.mark))
	rep.ServerFDs[0] = fdCount(h.PID)
	rep.TenantFDs[0] = tenantFDs(pids)
	tmpBefore := listFiles(s.tmp)

	fmt.Printf("==> soak: %d cycles of ten-upgrade run (handoff, %s -> %s) and rollback under %.0f req/s\n", n, fromVersion, toVersion, rate)
	stop := loadgen.StartOpen(t0ctx(), loadgen.OpenOptions{URLs: []string{s.url}, Host: loadHost, Rate: rate})
	time.Sleep(time.Second)
	var ups, backs []float64
	for i := 1; i <= n; i++ {
		_, _, up, err := s.tenUpgrade("run", "--binary", b.tenNew, "--yes", "--watch", "0s", "--strategy", "handoff")
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("cycle %d: %v", i, err))
			break
		}
		_, _, back, err := s.tenUpgrade("rollback", "--yes")
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("cycle %d: %v", i, err))
			break
		}
		ups, backs = append(ups, ms(up)), append(backs, ms(back))
		rep.CyclesDone = i
		if i%10 == 0 || i == n {
			fmt.Printf("    cycle %d/%d: upgrade %.0fms, rollback %.0fms\n", i, n, ms(up), ms(back))
		}
	}
	time.Sleep(time.Second)
	res := stop()
	rep.Sent, rep.Failed, rep.ByKind = res.Sent, res.Failed, res.ByKind
	rep.UpgradeMS, rep.RollbackMS = statOf(ups), statOf(backs)

	// Let the drained servers finish exiting before counting.
	time.Sleep(2 * time.Second)
	after, err := s.waitTenants(s.url, 10*time.Second)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	rep.TenantRestarts = restarts(pids, after)
	h, err = getHealth(s.url)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	rep.FinalVersion = h.Version
	rep.Processes[1] = len(procmark.Find(s.mark))
	rep.ServerFDs[1] = fdCount(h.PID)
	rep.ServerFDKinds = fdKinds(h.PID)
	rep.TenantFDs[1] = tenantFDs(after)
	rep.ServersAtTheEnd = countServers(s)
	for f := range listFiles(s.tmp) {
		if !tmpBefore[f] {
			rep.TempFilesLeft = append(rep.TempFilesLeft, f)
		}
	}
	sort.Strings(rep.TempFilesLeft)
	filepath.WalkDir(filepath.Join(s.dataDir, "upgrade"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(s.dataDir, "upgrade"), filepath.Dir(p))
			rep.StateFiles[rel]++
		}
		return nil
	})
	if err := s.integrity(); err != nil {
		rep.IntegrityError = err.Error()
	} else {
		rep.IntegrityOK = true
	}

	if rep.Processes[1] != rep.Processes[0] {
		rep.Leaks = append(rep.Leaks, fmt.Sprintf("%d processes before, %d after", rep.Processes[0], rep.Processes[1]))
	}
	if rep.ServersAtTheEnd != 1 {
		rep.Leaks = append(rep.Leaks, fmt.Sprintf("%d ten serve processes at the end", rep.ServersAtTheEnd))
	}
	// A leak grows with the cycles; allow for a log file or two.
	if rep.ServerFDs[1] > rep.ServerFDs[0]+2 {
		rep.Leaks = append(rep.Leaks, fmt.Sprintf("server fds %d -> %d", rep.ServerFDs[0], rep.ServerFDs[1]))
	}
	if rep.TenantFDs[1] > rep.TenantFDs[0]+2 {
		rep.Leaks = append(rep.Leaks, fmt.Sprintf("tenant fds %d -> %d", rep.TenantFDs[0], rep.TenantFDs[1]))
	}
	if len(rep.TempFilesLeft) > 0 {
		rep.Leaks = append(rep.Leaks, fmt.Sprintf("%d temporary files left", len(rep.TempFilesLeft)))
	}
	rep.DurationS = round(time.Since(began).Seconds(), 1)
	var problems []string
	if rep.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d requests failed", rep.Failed))
	}
	if rep.CyclesDone < n {
		problems = append(problems, fmt.Sprintf("only %d of %d cycles completed", rep.CyclesDone, n))
	}
	if !rep.IntegrityOK {
		problems = append(problems, "database integrity: "+rep.IntegrityError)
	}
	problems = append(problems, rep.Leaks...)
	if rep.FinalVersion != fromVersion {
		problems = append(problems, "final version "+rep.FinalVersion)
	}
	if len(problems) > 0 {
		return rep, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return rep, nil
}

func statOf(v []float64) stat {
	if len(v) == 0 {
		return stat{}
	}
	v = append([]float64(nil), v...)
	sort.Float64s(v)
	return stat{Median: v[len(v)/2], Min: v[0], Max: v[len(v)-1]}
}

// fdCount counts a process's descriptors other than sockets: client
// connections come and go with the load; files, pipes and inodes left
// open by each cycle do not.
func fdCount(pid int) int {
	if pid <= 0 {
		return 0
	}
	n := 0
	for k, c := range fdKinds(pid) {
		if k != "socket" {
			n += c
		}
	}
	return n
}

// fdKinds sorts a process's descriptors: socket, pipe, anon_inode, or
// the directory of the file.
func fdKinds(pid int) map[string]int {
	m := map[string]int{}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range ents {
		t, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		if i := strings.IndexByte(t, ':'); i > 0 && !strings.HasPrefix(t, "/") {
			t = t[:i]
		} else {
			t = filepath.Base(t)
		}
		m[t]++
	}
	return m
}

func tenantFDs(pids map[string]int) int {
	n := 0
	for _, p := range pids {
		n += fdCount(p)
	}
	return n
}

func countServers(s *site) int {
	n := 0
	for _, pid := range procmark.Find(s.mark) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(b), "serve\x00") {
			n++
		}
	}
	return n
}

func listFiles(dir string) map[string]bool {
	m := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			m[p] = true
		}
		return nil
	})
	return m
}
