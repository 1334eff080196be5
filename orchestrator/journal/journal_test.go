package journal

import (
	"context"
	"testing"
)

func openTest(t testing.TB, dir string) *Journal {
	t.Helper()
	j, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func begin(t testing.TB, j *Journal, from, to string) int64 {
	t.Helper()
	id, err := j.Begin(context.Background(), Upgrade{From: from, To: to, Strategy: "handoff"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func started(t testing.TB, j *Journal, id int64, name string, input any) int {
	t.Helper()
	seq, err := j.StepStarted(context.Background(), id, name, input)
	must(t, err)
	return seq
}
