package attachment

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	inside := filepath.Join(dir, "inside")
	os.MkdirAll(filepath.Join(inside, "sub"), 0o755)
	os.WriteFile(filepath.Join(inside, "ok.pdf"), []byte("ok"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644)
	os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(inside, "link.txt"))
	os.Symlink("ok.pdf", filepath.Join(inside, "good-link.pdf"))
	os.WriteFile(filepath.Join(inside, "locked.pdf"), []byte("x"), 0o000)

	tests := []struct {
		path, err string
		outside   bool
	}{
		{path: "ok.pdf"},
		{path: "good-link.pdf"},
		{path: "missing.pdf", err: `attachment "missing.pdf" not found (looked in ` + inside + ")"},
		{path: "../secret.txt", err: `attachment "../secret.txt" is outside the attachments folder ` + inside + " (set attachments_allow_outside: true to allow it)"},
		{path: "link.txt", err: `attachment "link.txt" is outside the attachments folder ` + inside + " (set attachments_allow_outside: true to allow it)"},
		{path: "link.txt", outside: true},
		{path: "sub", err: `attachment "sub" is not a regular file`},
		// Never the kernel's files, even allowed outside, by path or by a
		// link: /proc/self/environ holds the password a send was given.
		{path: "/proc/self/environ", outside: true, err: `attachment "/proc/self/environ" is a system file (under /proc), never attached, whatever attachments_allow_outside says`},
		{path: "environ-link", outside: true, err: `attachment "environ-link" is a system file (under /proc), never attached, whatever attachments_allow_outside says`},
		{path: "/dev/null", outside: true, err: `attachment "/dev/null" is a system file (under /dev), never attached, whatever attachments_allow_outside says`},
	}
	os.Symlink("/proc/1/environ", filepath.Join(inside, "environ-link"))
	if os.Geteuid() != 0 { // root reads any file
		tests = append(tests, struct {
			path, err string
			outside   bool
		}{path: "locked.pdf", err: `attachment "locked.pdf" cannot be read: open ` + filepath.Join(inside, "locked.pdf") + ": permission denied"})
	}
	for _, tt := range tests {
		s, err := NewStore(inside, tt.outside)
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.Resolve(tt.path)
		if tt.err == "" && (err != nil || f.Size == 0) || tt.err != "" && (err == nil || err.Error() != tt.err) {
			t.Errorf("%s: %v, %v\nwant error %q", tt.path, f, err, tt.err)
		}
	}
	if _, err := NewStore(filepath.Join(dir, "nowhere"), false); err == nil {
		t.Error("a store for a folder that does not exist")
	}
}

// TestOneFilePerIdentity: every path to a file is the same file, opened
// once to check it; once two letters expect it, every path to it
// resolves to one shared File.
func TestOneFilePerIdentity(t *testing.T) {
	opens := CountOpens(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "syllabus.pdf"), []byte("syllabus"), 0o644)
	os.Symlink("syllabus.pdf", filepath.Join(dir, "link.pdf"))
	s, _ := NewStore(dir, false)
	var files []*File
	for _, p := range []string{"syllabus.pdf", "./syllabus.pdf", "link.pdf", filepath.Join(dir, "syllabus.pdf"), "syllabus.pdf"} {
		f, err := s.Resolve(p)
		if err != nil {
			t.Fatal(err)
		}
		s.Expect(f)
		files = append(files, f)
	}
	for _, f := range files[2:] {
		if f != files[1] || f.Path != files[0].Path {
			t.Errorf("two Files for one shared file: %+v, %+v", files[1], f)
		}
	}
	if files[1].refs != 5 {
		t.Errorf("refs %d, want 5", files[1].refs)
	}
	if got := opens(); len(got) != 1 || got[files[0].Path] != 1 {
		t.Errorf("opens %v, want one", got)
	}
}

// TestReadOnce: a file expected by several letters is read once however
// many write it; one expected once is read for its letter only, and not
// kept.
func TestReadOnce(t *testing.T) {
	opens := CountOpens(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "shared.pdf"), []byte("shared"), 0o644)
	os.WriteFile(filepath.Join(dir, "own.pdf"), []byte("own"), 0o644)
	s, _ := NewStore(dir, false)
	for range 40 {
		f, _ := s.Resolve("shared.pdf")
		s.Expect(f)
	}
	own, _ := s.Resolve("own.pdf")
	s.Expect(own)
	shared, _ := s.Resolve("shared.pdf")

	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b bytes.Buffer
			if _, err := shared.WriteTo(&b); err != nil || b.String() != "shared" {
				t.Errorf("%q, %v", b.String(), err)
			}
		}()
	}
	wg.Wait()
	var b bytes.Buffer
	if _, err := own.WriteTo(&b); err != nil || b.String() != "own" {
		t.Errorf("%q, %v", b.String(), err)
	}
	got := opens()
	if got[shared.Path] != 2 || got[own.Path] != 2 {
		t.Errorf("opens %v: want each file twice (checked, then read)", got)
	}
	if own.data != nil || shared.data != nil || s.cached != 0 {
		t.Errorf("%d bytes still kept after the last letter: own %v, shared %v", s.cached, own.data != nil, shared.data != nil)
	}

	// Without expectations (a preview), files are streamed.
	s2, _ := NewStore(dir, false)
	f, _ := s2.Resolve("own.pdf")
	f.WriteTo(new(bytes.Buffer))
	f.WriteTo(new(bytes.Buffer))
	if f.data != nil || s2.cached != 0 || opens()[f.Path] != 5 {
		t.Errorf("preview: kept %v, %d bytes, opened %d times", f.data != nil, s2.cached, opens()[f.Path])
	}
}

// TestChangedFile: a file replaced or rewritten after the check is not
// sent as if it were the one checked.
func TestChangedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "grades.pdf")
	os.WriteFile(path, []byte("v1"), 0o644)
	f, _ := resolveIn(t, dir, "grades.pdf")
	os.WriteFile(path, []byte("version 2"), 0o644)
	if _, err := f.WriteTo(new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), "changed after it was checked") {
		t.Errorf("grown file: %v", err)
	}

	// Another file of the same size and time renamed over it: only its
	// identity (device and inode, or Windows' file index) tells.
	os.WriteFile(path, []byte("v1"), 0o644)
	g, _ := resolveIn(t, dir, "grades.pdf")
	other := filepath.Join(dir, "other.pdf")
	os.WriteFile(other, []byte("v2"), 0o644)
	os.Chtimes(other, time.Now(), g.info.ModTime())
	os.Rename(other, path)
	if _, err := g.WriteTo(new(bytes.Buffer)); err == nil {
		t.Error("a replaced file of the same size and time was sent")
	}

	// A shared file changed before its first letter: no letter gets it.
	os.WriteFile(path, []byte("v1"), 0o644)
	s, _ := NewStore(dir, false)
	for range 3 {
		h, _ := s.Resolve("grades.pdf")
		s.Expect(h)
	}
	h, _ := s.Resolve("grades.pdf")
	os.WriteFile(path, []byte("v3, longer"), 0o644)
	if _, err := h.WriteTo(new(bytes.Buffer)); err == nil || h.data != nil || s.cached != 0 {
		t.Errorf("changed shared file: %v, kept %d bytes", err, s.cached)
	}
}

// resolveIn resolves name in a new store for dir.
func resolveIn(t *testing.T, dir, name string) (*File, error) {
	t.Helper()
	s, err := NewStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return s.Resolve(name)
}
