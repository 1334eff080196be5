// Command faultten is a ten binary with one injected fault, for the fault
// tests of ten-upgrade run. It runs the real ten binary (main.real, set
// with -ldflags -X) for everything except the command its fault concerns
// (main.fault):
//
//	exit     `serve` exits at once with an error
//	hang     `serve` never becomes ready nor healthy
//	config   `config --check` rejects the configuration
//	migrate  `migrate` fails, and so does the migration at `serve`
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"
	"time"
)

var (
	real  string
	fault string
)

func main() {
	cmd := ""
	for _, a := range os.Args[1:] {
		if len(a) > 0 && a[0] != '-' {
			cmd = a
			break
		}
	}
	switch {
	case fault == "exit" && cmd == "serve":
		fmt.Fprintln(os.Stderr, "ten: injected fault: this candidate exits at once")
		os.Exit(1)
	case fault == "hang" && cmd == "serve":
		fmt.Fprintln(os.Stderr, "ten: injected fault: this candidate never becomes healthy")
		for {
			time.Sleep(time.Hour)
		}
	case fault == "config" && cmd == "config":
		json.NewEncoder(os.Stdout).Encode(map[string]any{
			"ok": false,
			"errors": []map[string]string{{"severity": "error", "key": "service.api",
				"message": "injected fault: this candidate rejects the configuration"}},
			"warnings": []any{},
		})
		os.Exit(1)
	case fault == "migrate" && cmd == "migrate":
		json.NewEncoder(os.Stdout).Encode(map[string]any{
			"applied": []any{},
			"error":   "injected fault: migration 0003 failed: no such table: instance_state_old",
		})
		os.Exit(1)
	case fault == "migrate" && cmd == "serve":
		fmt.Fprintln(os.Stderr, "ten: migrate tenement.db: injected fault: migration 0003 failed")
		os.Exit(1)
	}
	if real == "" {
		fmt.Fprintln(os.Stderr, "faultten: built without -X main.real")
		os.Exit(2)
	}
	err := syscall.Exec(real, append([]string{real}, os.Args[1:]...), os.Environ())
	fmt.Fprintln(os.Stderr, "faultten:", err)
	os.Exit(2)
}
