// Package attachment finds the files that letters attach and hands their
// contents to the message writer. A path must stay inside the attachments
// folder (after symlinks) unless the user allows otherwise, and must name a
// regular file that can be read.
//
// Mailings attach the same file to many letters (a syllabus to a whole
// class, a timetable per course) or one file per letter (each student's
// grade sheet). A Store opens each file once per run to check that it can
// be read; a file that several letters attach is read once and kept in
// memory until the last of them is written; one that a single letter
// attaches is streamed. So a send opens every file at most twice, once to
// check it before anything is sent and once to send it, as long as the
// files shared at one time fit in 256 MB (a shared file beyond that is
// read again for each letter). What a Store remembers of a file that one
// letter attaches is a hash: a million grade sheets cost some 30 MB.
package attachment

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// systemDirs hold the kernel's and the devices' files: none is a
// document, and some hold secrets (/proc/self/environ has the SMTP
// password a send was given).
var systemDirs = []string{"/proc", "/sys", "/dev"}

// maxCached caps the bytes of shared files kept in memory.
const maxCached = 256 << 20

// open opens a file for reading; tests count the calls.
var open = os.Open

// Store resolves attachment paths against a folder. It is safe for
// concurrent use.
type Store struct {
	dir          string // absolute, symlinks resolved
	allowOutside bool
	seed         maphash.Seed

	mu sync.Mutex
	// seen holds the files checked so far, by a hash of their real path,
	// with the letters expected to attach each (Expect); a file expected
	// twice moves to shared.
	seen   map[uint64]int32
	shared map[string]*File // by real path
	cached int64            // bytes of shared files in memory
}

// File is a file that letters attach.
type File struct {
	Path  string // real path, symlinks resolved
	Size  int64
	info  os.FileInfo // what was checked: the file must still be this one when it is sent
	hash  uint64
	store *Store
	refs  int // shared files: letters still to write it

	mu   sync.Mutex
	data []byte // a shared file's contents, once read, while they fit
}

// NewStore returns a Store for the folder dir. With allowOutside, paths
// may leave it.
func NewStore(dir string, allowOutside bool) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, err
	}
	return &Store{dir: abs, allowOutside: allowOutside, seed: maphash.MakeSeed(), seen: map[uint64]int32{}, shared: map[string]*File{}}, nil
}

// Resolve finds the file at p, relative to the folder, and checks that it
// stays inside it (after symlinks), is a regular file and can be read.
// Only the first time a run meets a file is it opened for that.
func (s *Store) Resolve(p string) (*File, error) {
	full := p
	if !filepath.IsAbs(p) {
		full = filepath.Join(s.dir, p)
	}
	real, err := filepath.EvalSymlinks(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("attachment %q not found (looked in %s)", p, filepath.Dir(full))
	}
	if err != nil {
		return nil, fmt.Errorf("attachment %q: %w", p, err)
	}
	for _, d := range systemDirs {
		if real == d || strings.HasPrefix(real, d+"/") {
			return nil, fmt.Errorf("attachment %q is a system file (under %s), never attached, whatever attachments_allow_outside says", p, d)
		}
	}
	if !s.allowOutside {
		rel, err := filepath.Rel(s.dir, real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			return nil, fmt.Errorf("attachment %q is outside the attachments folder %s (set attachments_allow_outside: true to allow it)", p, s.dir)
		}
	}
	s.mu.Lock()
	f, ok := s.shared[real]
	s.mu.Unlock()
	if ok {
		return f, nil
	}
	// Stat before opening: opening a FIFO would wait for a writer.
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("attachment %q: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("attachment %q is not a regular file", p)
	}
	h := maphash.String(s.seed, real)
	s.mu.Lock()
	_, checked := s.seen[h]
	s.mu.Unlock()
	if !checked {
		fh, err := open(real)
		if err != nil {
			return nil, fmt.Errorf("attachment %q cannot be read: %w", p, err)
		}
		fh.Close()
		s.mu.Lock()
		if _, ok := s.seen[h]; !ok {
			s.seen[h] = 0
		}
		s.mu.Unlock()
	}
	return &File{Path: real, Size: fi.Size(), info: fi, hash: h, store: s}, nil
}

// Expect notes that one more letter will attach f. The second letter to
// expect a file makes it shared: Resolve returns the same File for it from
// then on, read once and kept in memory until the last letter has it.
func (s *Store) Expect(f *File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.refs > 0 {
		f.refs++ // shared already
		return
	}
	s.seen[f.hash]++
	if s.seen[f.hash] == 2 {
		f.refs = 2
		s.shared[f.Path] = f
	}
}

// WriteTo writes the file's contents to w. It fails if the file is no
// longer the one that was checked (replaced, grown or touched since).
func (f *File) WriteTo(w io.Writer) (int64, error) {
	data, err := f.load()
	if err != nil {
		return 0, err
	}
	if data == nil {
		return f.copy(w)
	}
	n, err := w.Write(data)
	f.written()
	return int64(n), err
}

// load returns the contents of a shared file, reading them the first
// time; nil for a file to stream.
func (f *File) load() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.data != nil || !f.store.reserve(f) {
		return f.data, nil
	}
	var b bytes.Buffer
	b.Grow(int(f.Size))
	if _, err := f.copy(&b); err != nil {
		f.store.release(f.Size)
		return nil, err
	}
	f.data = b.Bytes()
	return f.data, nil
}

// written notes that one more of the expected letters has the contents,
// and lets them go after the last.
func (f *File) written() {
	s := f.store
	s.mu.Lock()
	last := f.refs == 1
	if f.refs > 0 {
		f.refs--
	}
	s.mu.Unlock()
	if last {
		f.mu.Lock()
		if f.data != nil {
			f.data = nil
			s.release(f.Size)
		}
		f.mu.Unlock()
	}
}

// reserve takes room in memory for f's contents if f is shared and fits.
func (s *Store) reserve(f *File) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.refs <= 0 || s.cached+f.Size > maxCached {
		return false
	}
	s.cached += f.Size
	return true
}

func (s *Store) release(n int64) {
	s.mu.Lock()
	s.cached -= n
	s.mu.Unlock()
}

// copy streams the file from disk, after checking it is the one checked.
func (f *File) copy(w io.Writer) (int64, error) {
	fh, err := open(f.Path)
	if err != nil {
		return 0, fmt.Errorf("attachment %s: %w", f.Path, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return 0, fmt.Errorf("attachment %s: %w", f.Path, err)
	}
	if !os.SameFile(fi, f.info) || fi.Size() != f.Size || !fi.ModTime().Equal(f.info.ModTime()) {
		return 0, fmt.Errorf("attachment %s changed after it was checked; run again to check it anew", f.Path)
	}
	n, err := io.Copy(w, io.LimitReader(fh, f.Size))
	if err == nil && n != f.Size {
		err = fmt.Errorf("attachment %s: read %d of %d bytes", f.Path, n, f.Size)
	}
	return n, err
}
