package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tenement/ten/internal/loadgen"
	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/internal/site"
)

// SoakOptions configure Soak.
type SoakOptions struct {
	// N is the number of upgrade/rollback cycles.
	N int
	// Rate is the load in requests per second (open loop).
	Rate float64
	// Out is the directory for soak.json.
	Out string
	// Work is where the run's own work directory is made (see
	// Options.Work).
	Work string
	Keep bool
	// Stdout gets the progress and the report.
	Stdout io.Writer
}

// SoakReport is what Soak found, as it writes it to soak.json
// (docs/bench/soak.json is one).
type SoakReport struct {
	Cycles          int            `json:"cycles"`
	CyclesDone      int            `json:"cycles_done"`
	RatePerS        float64        `json:"rate_per_s"`
	Sent            int            `json:"sent"`
	Failed          int            `json:"failed"`
	ByKind          map[string]int `json:"failed_by_kind"`
	UpgradeMS       Stat           `json:"upgrade_ms"`
	RollbackMS      Stat           `json:"rollback_ms"`
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

// Soak runs o.N upgrade/rollback cycles (A -> B -> A, handoff) on one
// installation under constant load, then looks for what they left behind:
// processes, file descriptors, temporary files, and checks the database.
// It prints the report to o.Stdout and writes it to soak.json in o.Out,
// and returns an error naming every problem found.
func Soak(ctx context.Context, o SoakOptions) (*SoakReport, error) {
	rep, err := soak(ctx, o)
	if rep == nil {
		return nil, err
	}
	werr := writeJSON(filepath.Join(o.Out, "soak.json"), rep)
	rep.print(o.Stdout)
	return rep, errors.Join(err, werr)
}

func (r *SoakReport) print(w io.Writer) {
	fmt.Fprintf(w, "\nsoak: %d/%d cycles (A -> B -> A, handoff) in %.0fs under %.0f req/s\n", r.CyclesDone, r.Cycles, r.DurationS, r.RatePerS)
	fmt.Fprintf(w, "  requests:        %d failed / %d sent %v\n", r.Failed, r.Sent, r.ByKind)
	fmt.Fprintf(w, "  upgrade:         median %.0fms [%.0f-%.0f]\n", r.UpgradeMS.Median, r.UpgradeMS.Min, r.UpgradeMS.Max)
	fmt.Fprintf(w, "  rollback:        median %.0fms [%.0f-%.0f]\n", r.RollbackMS.Median, r.RollbackMS.Min, r.RollbackMS.Max)
	fmt.Fprintf(w, "  processes:       %d before, %d after (%d ten serve at the end, ten %s)\n", r.Processes[0], r.Processes[1], r.ServersAtTheEnd, r.FinalVersion)
	fmt.Fprintf(w, "  fds (no sockets): server %d -> %d, tenants %d -> %d; tenant restarts %d\n", r.ServerFDs[0], r.ServerFDs[1], r.TenantFDs[0], r.TenantFDs[1], r.TenantRestarts)
	fmt.Fprintf(w, "  server fds now:  %v\n", r.ServerFDKinds)
	fmt.Fprintf(w, "  temp files left: %d %v\n", len(r.TempFilesLeft), r.TempFilesLeft)
	fmt.Fprintf(w, "  state files:     %v\n", r.StateFiles)
	fmt.Fprintf(w, "  database:        integrity ok=%v %s\n", r.IntegrityOK, r.IntegrityError)
	for _, l := range r.Leaks {
		fmt.Fprintf(w, "  LEAK: %s\n", l)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  ERROR: %s\n", firstLine(e))
	}
}

// soak measures; its report is nil when it could not start or was
// interrupted, as a partial one would suggest leaks that are not there.
func soak(ctx context.Context, o SoakOptions) (*SoakReport, error) {
	began := time.Now()
	work, b, remove, err := setup(ctx, o.Stdout, o.Work, o.Keep)
	if err != nil {
		return nil, err
	}
	defer remove()
	s, err := newSite(ctx, b, filepath.Join(work, "soak"))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	rep := &SoakReport{Cycles: o.N, RatePerS: o.Rate}
	pids, err := s.WaitTenants(ctx, s.URL, 10*time.Second)
	if err != nil {
		return nil, err
	}
	h, _ := site.GetHealth(ctx, s.URL)
	rep.Processes[0] = len(s.Processes())
	rep.ServerFDs[0] = fdCount(h.PID)
	rep.TenantFDs[0] = tenantFDs(pids)
	tmpBefore := listFiles(s.Tmp)

	fmt.Fprintf(o.Stdout, "==> soak: %d cycles of ten-upgrade run (handoff, %s -> %s) and rollback under %.0f req/s\n", o.N, fromVersion, toVersion, o.Rate)
	stop := loadgen.StartOpen(ctx, loadgen.OpenOptions{URLs: []string{s.URL}, Host: site.LoadHost, Rate: o.Rate})
	if err := sleep(ctx, time.Second); err != nil {
		stop()
		return nil, fmt.Errorf("soak interrupted: %w", err)
	}
	var ups, backs []float64
	for i := 1; i <= o.N; i++ {
		_, _, up, err := tenUpgrade(ctx, s, "run", "--binary", b.tenNew, "--yes", "--watch", "0s", "--strategy", "handoff")
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("cycle %d: %v", i, err))
			break
		}
		_, _, back, err := tenUpgrade(ctx, s, "rollback", "--yes")
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("cycle %d: %v", i, err))
			break
		}
		ups, backs = append(ups, ms(up)), append(backs, ms(back))
		rep.CyclesDone = i
		if i%10 == 0 || i == o.N {
			fmt.Fprintf(o.Stdout, "    cycle %d/%d: upgrade %.0fms, rollback %.0fms\n", i, o.N, ms(up), ms(back))
		}
	}
	err = sleep(ctx, time.Second)
	res := stop()
	if err != nil {
		return nil, fmt.Errorf("soak interrupted: %w", err)
	}
	rep.Sent, rep.Failed, rep.ByKind = res.Sent, res.Failed, res.ByKind
	rep.UpgradeMS, rep.RollbackMS = statOf(ups), statOf(backs)

	// Let the drained servers finish exiting before counting.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return nil, fmt.Errorf("soak interrupted: %w", err)
	}
	after, err := s.WaitTenants(ctx, s.URL, 10*time.Second)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	rep.TenantRestarts = restarts(pids, after)
	h, err = site.GetHealth(ctx, s.URL)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	rep.FinalVersion = h.Version
	rep.Processes[1] = len(s.Processes())
	rep.ServerFDs[1] = fdCount(h.PID)
	rep.ServerFDKinds = fdKinds(h.PID)
	rep.TenantFDs[1] = tenantFDs(after)
	rep.ServersAtTheEnd = len(s.Servers())
	for f := range listFiles(s.Tmp) {
		if !tmpBefore[f] {
			rep.TempFilesLeft = append(rep.TempFilesLeft, f)
		}
	}
	sort.Strings(rep.TempFilesLeft)
	rep.StateFiles = countByDir(filepath.Join(s.DataDir, "upgrade"))
	if err := integrity(ctx, s); err != nil {
		rep.IntegrityError = err.Error()
	} else {
		rep.IntegrityOK = true
	}
	rep.Leaks = leaks(rep)
	rep.DurationS = round(time.Since(began).Seconds(), 1)
	if problems := soakProblems(rep, o.N); len(problems) > 0 {
		return rep, errors.New(strings.Join(problems, "; "))
	}
	return rep, nil
}

// leaks compares the installation after the cycles with before them.
func leaks(rep *SoakReport) []string {
	var l []string
	if rep.Processes[1] != rep.Processes[0] {
		l = append(l, fmt.Sprintf("%d processes before, %d after", rep.Processes[0], rep.Processes[1]))
	}
	if rep.ServersAtTheEnd != 1 {
		l = append(l, fmt.Sprintf("%d ten serve processes at the end", rep.ServersAtTheEnd))
	}
	// A leak grows with the cycles; allow for a log file or two.
	if rep.ServerFDs[1] > rep.ServerFDs[0]+2 {
		l = append(l, fmt.Sprintf("server fds %d -> %d", rep.ServerFDs[0], rep.ServerFDs[1]))
	}
	if rep.TenantFDs[1] > rep.TenantFDs[0]+2 {
		l = append(l, fmt.Sprintf("tenant fds %d -> %d", rep.TenantFDs[0], rep.TenantFDs[1]))
	}
	if len(rep.TempFilesLeft) > 0 {
		l = append(l, fmt.Sprintf("%d temporary files left", len(rep.TempFilesLeft)))
	}
	return l
}

// soakProblems is what fails the soak: failed requests, cycles not done,
// a damaged database, leaks, or not being back at the version it started
// from.
func soakProblems(rep *SoakReport, n int) []string {
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
	return problems
}

// statOf is the median (the upper one of an even count) and the range of
// v, which it leaves unsorted.
func statOf(v []float64) Stat {
	if len(v) == 0 {
		return Stat{}
	}
	v = append([]float64(nil), v...)
	sort.Float64s(v)
	return Stat{Median: v[len(v)/2], Min: v[0], Max: v[len(v)-1]}
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
// the name of the file.
func fdKinds(pid int) map[string]int {
	m := map[string]int{}
	for _, t := range proc.FDs(pid) {
		m[fdKind(t)]++
	}
	return m
}

// fdKind is the kind of a descriptor from its /proc link: "socket" of
// "socket:[123]", the base name of a file.
func fdKind(link string) string {
	if i := strings.IndexByte(link, ':'); i > 0 && !strings.HasPrefix(link, "/") {
		return link[:i]
	}
	return filepath.Base(link)
}

func tenantFDs(pids map[string]int) int {
	n := 0
	for _, p := range pids {
		n += fdCount(p)
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

// countByDir counts the files under root by directory, relative to root.
func countByDir(root string) map[string]int {
	m := map[string]int{}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			m[rel]++
		}
		return nil
	})
	return m
}

// integrity checks the live database on an online copy, so that the
// server need not stop.
func integrity(ctx context.Context, s *site.Site) error {
	cp := filepath.Join(s.Dir, "integrity-copy.db")
	defer os.Remove(cp)
	db, err := s.CopyDB(ctx, cp)
	if err != nil {
		return err
	}
	return db.Close()
}
