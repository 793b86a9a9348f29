//go:build unix

package pgjournal

import (
	"errors"
	"os"
	"syscall"
)

// running reports whether the process pid runs on this machine. When it
// cannot tell, it says yes: the lease then waits for its time.
func running(pid int) bool {
	p, err := os.FindProcess(pid) // never fails on Unix
	if err != nil {
		return true
	}
	defer p.Release()
	err = p.Signal(syscall.Signal(0))
	return !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH)
}
