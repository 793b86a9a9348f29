package sender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
)

// Maildir is a Transport that delivers into a Maildir folder: each letter
// is written to tmp/, synced, and renamed into new/ under a unique name,
// as maildir(5) describes. Mail readers (mutt -f DIR) open it as it is.
// Files in a Maildir end their lines with LF, the local convention (a
// mail reader shows the CR of CRLF as ^M); SMTP keeps CRLF.
type Maildir struct {
	Path string
}

// Describe names the folder.
func (m *Maildir) Describe() string { return "Maildir " + m.Path }

// Destination names the folder in the journal: "maildir:/abs/path".
func (m *Maildir) Destination() string {
	if abs, err := filepath.Abs(m.Path); err == nil {
		return "maildir:" + abs
	}
	return "maildir:" + filepath.Clean(m.Path)
}

var maildirSeq atomic.Int64

// Open creates the folder's tmp, new and cur if needed.
func (m *Maildir) Open(ctx context.Context, n int) (Session, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(m.Path, sub), 0o700); err != nil {
			return nil, &RunError{Kind: ErrUnavailable, Phase: PhaseWrite, Text: err.Error(), Err: err}
		}
	}
	host, _ := os.Hostname()
	return &maildirSession{dir: m.Path, host: maildirHost(host, runtime.GOOS)}, nil
}

// maildirHost is the host part of a Maildir file name. maildir(5) writes
// "/" and ":" as \057 and \072, since one would end the name and the other
// starts its info; on Windows a backslash separates folders and none of
// \/:*?"<>| may appear in a name, so each becomes _.
func maildirHost(host, goos string) string {
	if goos == "windows" {
		return strings.Map(func(r rune) rune {
			if r < ' ' || strings.ContainsRune(`\/:*?"<>|`, r) {
				return '_'
			}
			return r
		}, host)
	}
	return strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
}

// Hint says nothing more than the error: a folder that cannot be made
// says why itself.
func (m *Maildir) Hint(ctx context.Context, err error) string { return "" }

// maildirSession writes letters into the folder, one file each.
type maildirSession struct {
	dir, host string
}

// Send writes tx.Letter into tmp/, and once beforeEOD has recorded it,
// moves it into new/: the rename is the point of no return.
func (s *maildirSession) Send(ctx context.Context, tx Tx, beforeEOD func([]journal.Rejection) error) Result {
	data := tx.Data
	now := time.Now()
	name := fmt.Sprintf("%d.M%dP%dQ%d.%s", now.Unix(), now.Nanosecond()/1000, os.Getpid(), maildirSeq.Add(1), s.host)
	tmp := filepath.Join(s.dir, "tmp", name)
	fail := func(err error) Result {
		os.Remove(tmp)
		// A full disk or a permission problem may pass; retry later.
		return Result{Verdict: Temporary, Phase: PhaseWrite, Text: err.Error()}
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail(err)
	}
	_, err = f.Write(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	if err := beforeEOD(nil); err != nil {
		os.Remove(tmp)
		if errors.Is(err, journal.ErrTaken) {
			return Result{Verdict: Temporary, Phase: PhaseWrite, Text: "not delivered: " + err.Error(), Taken: true}
		}
		return Result{Verdict: Temporary, Phase: PhaseWrite, Text: "not delivered: " + err.Error(), Stop: &RunError{Kind: ErrJournal, Text: err.Error(), Err: err}}
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "new", name)); err != nil {
		return fail(err)
	}
	if d, err := os.Open(filepath.Join(s.dir, "new")); err == nil {
		d.Sync()
		d.Close()
	}
	return Result{Verdict: Delivered, Phase: PhaseWrite, Text: "new/" + name}
}

// TakesNext is false: a file has no envelope to send early.
func (s *maildirSession) TakesNext() bool { return false }

// Alive is true: a folder does not hang up.
func (s *maildirSession) Alive() bool { return true }

// Abort does nothing: there is no connection to drop.
func (s *maildirSession) Abort() {}

// Close does nothing: there is no connection to end.
func (s *maildirSession) Close() error { return nil }
