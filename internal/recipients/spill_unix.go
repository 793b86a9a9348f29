//go:build !windows

package recipients

import "os"

// createSpill makes a temporary file in dir and removes its name at
// once: the open file lives on, without a name, until it is closed or
// the process ends.
func createSpill(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, spillPrefix+"*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
