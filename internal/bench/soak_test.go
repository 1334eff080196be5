package bench

import (
	"reflect"
	"testing"
)

func TestFDKind(t *testing.T) {
	tests := []struct{ link, want string }{
		{"socket:[12345]", "socket"},
		{"pipe:[678]", "pipe"},
		{"anon_inode:[eventpoll]", "anon_inode"},
		{"/srv/ten/data/ten.db-wal", "ten.db-wal"},
		{"/tmp/odd:name", "odd:name"},
	}
	for _, tt := range tests {
		if got := fdKind(tt.link); got != tt.want {
			t.Errorf("fdKind(%q) = %q, want %q", tt.link, got, tt.want)
		}
	}
}

func TestSoakProblems(t *testing.T) {
	clean := func() *SoakReport {
		return &SoakReport{Cycles: 5, CyclesDone: 5, Processes: [2]int{4, 4}, ServerFDs: [2]int{19, 20}, TenantFDs: [2]int{27, 27},
			ServersAtTheEnd: 1, IntegrityOK: true, FinalVersion: fromVersion}
	}
	tests := []struct {
		name  string
		edit  func(r *SoakReport)
		leaks []string
		want  []string
	}{
		{name: "clean, a log file or two more allowed", edit: func(r *SoakReport) { r.ServerFDs[1] = 21 }},
		{
			name:  "descriptors growing with the cycles",
			edit:  func(r *SoakReport) { r.ServerFDs[1], r.TenantFDs[1] = 41, 30 },
			leaks: []string{"server fds 19 -> 41", "tenant fds 27 -> 30"},
			want:  []string{"server fds 19 -> 41", "tenant fds 27 -> 30"},
		},
		{
			name:  "an old server left running",
			edit:  func(r *SoakReport) { r.Processes[1], r.ServersAtTheEnd = 5, 2 },
			leaks: []string{"4 processes before, 5 after", "2 ten serve processes at the end"},
			want:  []string{"4 processes before, 5 after", "2 ten serve processes at the end"},
		},
		{
			name:  "temporary files",
			edit:  func(r *SoakReport) { r.TempFilesLeft = []string{"/w/tmp/a", "/w/tmp/b"} },
			leaks: []string{"2 temporary files left"},
			want:  []string{"2 temporary files left"},
		},
		{
			name: "a cycle failed and left the new version",
			edit: func(r *SoakReport) { r.CyclesDone, r.Failed, r.FinalVersion = 3, 1, toVersion },
			want: []string{"1 requests failed", "only 3 of 5 cycles completed", "final version " + toVersion},
		},
		{
			name: "a damaged database",
			edit: func(r *SoakReport) { r.IntegrityOK, r.IntegrityError = false, "page 3: btree" },
			want: []string{"database integrity: page 3: btree"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := clean()
			tt.edit(r)
			r.Leaks = leaks(r)
			if !reflect.DeepEqual(r.Leaks, tt.leaks) {
				t.Errorf("leaks = %q, want %q", r.Leaks, tt.leaks)
			}
			if got := soakProblems(r, r.Cycles); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems = %q, want %q", got, tt.want)
			}
		})
	}
}
