//go:build !unix

package proxy

import "errors"

func signalReload(int) error {
	return errors.New("reloading nginx by signal needs a Unix system")
}

func alive(int) bool { return false }
