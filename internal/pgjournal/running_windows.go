//go:build windows

package pgjournal

import (
	"errors"
	"os"
	"syscall"
)

// running reports whether the process pid runs on this machine. When it
// cannot tell (another user's process), it says yes: the lease then
// waits for its time.
func running(pid int) bool {
	p, err := os.FindProcess(pid)
	if err == nil {
		p.Release()
		return true
	}
	// OpenProcess answers ERROR_INVALID_PARAMETER for a process that is
	// not there.
	return !errors.Is(err, syscall.Errno(87))
}
