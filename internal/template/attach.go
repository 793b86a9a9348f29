package template

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// resolveAttachment finds an attachment path relative to the attachments
// folder and checks that it stays inside it (after symlinks) and is a
// regular file.
func (t *Template) resolveAttachment(p string) (Attachment, error) {
	full := p
	if !filepath.IsAbs(p) {
		full = filepath.Join(t.dir, p)
	}
	real, err := filepath.EvalSymlinks(full)
	if errors.Is(err, fs.ErrNotExist) {
		return Attachment{}, fmt.Errorf("attachment %q not found (looked in %s)", p, filepath.Dir(full))
	}
	if err != nil {
		return Attachment{}, fmt.Errorf("attachment %q: %w", p, err)
	}
	if !t.opts.AllowOutside {
		rel, err := filepath.Rel(t.dir, real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			return Attachment{}, fmt.Errorf("attachment %q is outside the attachments folder %s (set attachments_allow_outside: true to allow it)", p, t.dir)
		}
	}
	fi, err := os.Stat(real)
	if err != nil {
		return Attachment{}, fmt.Errorf("attachment %q: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return Attachment{}, fmt.Errorf("attachment %q is not a regular file", p)
	}
	return Attachment{Name: filepath.Base(p), Path: real, Size: fi.Size()}, nil
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
