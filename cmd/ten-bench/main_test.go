package main

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/tenement/ten/internal/bench"
)

func TestBenchOptions(t *testing.T) {
	defaults := bench.Options{Runs: 3, Rate: 200, Lead: 2 * time.Second, Tail: 2 * time.Second, Baseline: 6 * time.Second, Out: "bin/bench"}
	tests := []struct {
		name string
		args []string
		want func(o *bench.Options)
		err  error
	}{
		{name: "defaults", want: func(*bench.Options) {}},
		{
			name: "-short wins over -runs and the durations",
			args: []string{"-runs", "5", "-lead", "9s", "-short", "-rate", "50"},
			want: func(o *bench.Options) {
				o.Runs, o.Baseline, o.Lead, o.Tail, o.Rate = 1, 3*time.Second, time.Second, time.Second, 50
			},
		},
		{
			name: "-only is a comma-separated list",
			args: []string{"-only", "baseline, handoff,proxy-nginx", "-out", "/tmp/b", "-keep", "-work", "w"},
			want: func(o *bench.Options) {
				o.Only, o.Out, o.Keep, o.Work = []string{"baseline", "handoff", "proxy-nginx"}, "/tmp/b", true, "w"
			},
		},
		{name: "-h", args: []string{"-h"}, err: flag.ErrHelp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := benchOptions("ten-bench", tt.args, io.Discard)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestSoakOptions(t *testing.T) {
	got, err := soakOptions([]string{"-n", "2", "-out", "/tmp/b"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (bench.SoakOptions{N: 2, Rate: 100, Out: "/tmp/b"}); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseFailed(t *testing.T) {
	if _, err := benchOptions("ten-bench", []string{"-nope"}, io.Discard); parseFailed(err) != 2 {
		t.Errorf("an unknown flag: exit %d, want 2", parseFailed(err))
	}
	if _, err := soakOptions([]string{"-help"}, io.Discard); parseFailed(err) != 0 {
		t.Errorf("-help: exit %d, want 0", parseFailed(err))
	}
}
