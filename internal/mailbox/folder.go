package mailbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailmerge/mailmerge/internal/remote"
)

// selectFolder opens folder, saying which folders there are when it does
// not exist.
func (m *Mailbox) selectFolder(ctx context.Context, folder string) error {
	if m.selected == folder {
		return nil
	}
	err := m.do(ctx, func() error {
		_, err := m.c.Select(folder, nil).Wait()
		return err
	})
	if err != nil {
		return m.folderError(ctx, folder, err)
	}
	m.selected = folder
	return nil
}

func (m *Mailbox) folderError(ctx context.Context, folder string, err error) error {
	var names []string
	m.do(ctx, func() error {
		list, _ := m.c.List("", "*", nil).Collect()
		for _, l := range list {
			names = append(names, remote.Text(l.Mailbox))
		}
		return nil
	})
	words := fmt.Sprintf("the IMAP server %s has no folder %q", m.s.addr(), folder)
	if len(names) > 0 {
		words += " (it has " + strings.Join(names, ", ") + ")"
	}
	return &Error{words, err}
}

// Move moves the messages with uids from the folder Messages last read
// into folder (MOVE, RFC 6851).
func (m *Mailbox) Move(ctx context.Context, uids []imap.UID, folder string) error {
	if len(uids) == 0 {
		return nil
	}
	if !m.c.Caps().Has(imap.CapMove) {
		// Without MOVE a move is a copy and an EXPUNGE, which would also
		// remove the user's own messages marked for deletion.
		return &Error{fmt.Sprintf("the IMAP server %s cannot move messages (no MOVE): leave out --move-to", m.s.addr()), errors.New("MOVE not offered")}
	}
	err := m.do(ctx, func() error {
		_, err := m.c.Move(imap.UIDSetNum(uids...), folder).Wait()
		return err
	})
	var ie *imap.Error
	switch {
	case errors.As(err, &ie) && (ie.Code == imap.ResponseCodeTryCreate || ie.Code == imap.ResponseCodeNonExistent):
		return m.folderError(ctx, folder, err)
	case err != nil:
		return &Error{fmt.Sprintf("moving messages to %q on the IMAP server %s failed", folder, m.s.addr()), err}
	}
	return nil
}

// Append adds a message to folder, marked as read.
func (m *Mailbox) Append(ctx context.Context, folder string, data []byte, date time.Time) error {
	err := m.do(ctx, func() error {
		cmd := m.c.Append(folder, int64(len(data)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}, Time: date})
		if _, err := cmd.Write(data); err != nil {
			cmd.Close()
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		_, err := cmd.Wait()
		return err
	})
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code == imap.ResponseCodeTryCreate {
			return m.folderError(ctx, folder, err)
		}
		return &Error{fmt.Sprintf("saving a copy in %q on the IMAP server %s failed", folder, m.s.addr()), err}
	}
	return nil
}

// Examine opens folder read-only (EXAMINE) and says how many messages
// it holds: that it is there, changing nothing (not even \Recent).
func (m *Mailbox) Examine(ctx context.Context, folder string) (uint32, error) {
	var n uint32
	err := m.do(ctx, func() error {
		data, err := m.c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return err
		}
		n = data.NumMessages
		return nil
	})
	m.selected = "" // examined, not selected: the next command selects anew
	if err != nil {
		return 0, m.folderError(ctx, folder, err)
	}
	return n, nil
}
