package mailbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailmerge/mailmerge/internal/remote"
)

// Message is a message of a folder: its UID, and its bytes.
type Message struct {
	UID  imap.UID
	Data []byte
}

// What one reading of a folder may cost, whatever the server holds or
// sends: a header batch, a body batch, the messages looked at.
const (
	batch         = 50       // headers one FETCH asks for
	bodyBatch     = 10       // bodies one FETCH asks for
	maxHeader     = 64 << 10 // bytes of a header read (a report's is a few kB)
	maxBody       = 1 << 20  // bytes of a message read (reports are small: RET=HDRS)
	maxCandidates = 50_000   // the newest messages looked at in one reading
	// maxAnswer caps the bytes of one answer of the server's: a server
	// that ignores the sizes asked for (or streams one literal for ever)
	// is cut off there.
	maxAnswer = 32 << 20
)

// Messages calls fn with each message of folder that arrived on or after
// the day of since (IMAP searches by day), oldest first, whose header
// want accepts (nil: all): the others' bodies are never fetched. Reading
// leaves the messages unread (BODY.PEEK). Of each message it reads the
// first maxHeader bytes of the header and maxBody of the whole; of a
// folder with more than maxCandidates messages since then, the newest:
// skipped says how many older ones were left out.
func (m *Mailbox) Messages(ctx context.Context, folder string, since time.Time, want func(header []byte) bool, fn func(Message) error) (skipped int, err error) {
	if err := m.selectFolder(ctx, folder); err != nil {
		return 0, err
	}
	var uids []imap.UID
	err = m.do(ctx, func() error {
		data, err := m.c.UIDSearch(&imap.SearchCriteria{Since: since}, nil).Wait()
		if err != nil {
			return err
		}
		uids = data.AllUIDs()
		return nil
	})
	if err != nil {
		return 0, &Error{fmt.Sprintf("searching %q on the IMAP server %s failed", folder, m.s.addr()), err}
	}
	if len(uids) > maxCandidates {
		slices.Sort(uids)
		skipped, uids = len(uids)-maxCandidates, uids[len(uids)-maxCandidates:]
	}
	for len(uids) > 0 {
		n := min(batch, len(uids))
		chosen := uids[:n]
		uids = uids[n:]
		if want != nil {
			headers, err := m.fetch(ctx, folder, chosen, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true, Partial: &imap.SectionPartial{Size: maxHeader}})
			if err != nil {
				return skipped, err
			}
			chosen = nil
			for _, h := range headers {
				if want(h.Data) {
					chosen = append(chosen, h.UID)
				}
			}
		}
		for len(chosen) > 0 {
			k := min(bodyBatch, len(chosen))
			msgs, err := m.fetch(ctx, folder, chosen[:k], &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Size: maxBody}})
			if err != nil {
				return skipped, err
			}
			chosen = chosen[k:]
			for _, msg := range msgs {
				if err := fn(msg); err != nil {
					return skipped, err
				}
			}
		}
	}
	return skipped, nil
}

// lookupBatch is how many keys one SEARCH looks for.
const lookupBatch = 20

// FindMessageIDs looks in folder for the messages whose Message-ID holds
// each of keys, and returns by key the Message-IDs found (the caller
// tells which are its letter's: letter.Key.Names). Providers that file
// each submitted letter in Sent (Gmail, Microsoft 365), and
// imap.save_copies, make this the record of what was sent from any
// machine.
func (m *Mailbox) FindMessageIDs(ctx context.Context, folder string, keys []string) (map[string][]string, error) {
	found := map[string][]string{}
	if len(keys) == 0 {
		return found, nil
	}
	if err := m.selectFolder(ctx, folder); err != nil {
		return nil, err
	}
	for len(keys) > 0 {
		some := keys[:min(lookupBatch, len(keys))]
		keys = keys[len(some):]
		var criteria imap.SearchCriteria
		for i := len(some) - 1; i >= 0; i-- {
			one := imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: some[i]}}}
			if i == len(some)-1 {
				criteria = one
				continue
			}
			criteria = imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{one, criteria}}}
		}
		var uids []imap.UID
		err := m.do(ctx, func() error {
			data, err := m.c.UIDSearch(&criteria, nil).Wait()
			if err != nil {
				return err
			}
			uids = data.AllUIDs()
			return nil
		})
		if err != nil {
			return nil, &Error{fmt.Sprintf("searching %q on the IMAP server %s failed", folder, m.s.addr()), err}
		}
		for len(uids) > 0 {
			chosen := uids[:min(batch, len(uids))]
			uids = uids[len(chosen):]
			headers, err := m.fetch(ctx, folder, chosen, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true, Partial: &imap.SectionPartial{Size: maxHeader}})
			if err != nil {
				return nil, err
			}
			for _, h := range headers {
				id := messageID(h.Data)
				for _, k := range some {
					if id != "" && strings.Contains(strings.ToLower(id), strings.ToLower(k)) {
						found[k] = append(found[k], remote.Text(id))
					}
				}
			}
		}
	}
	return found, nil
}

// messageID is the Message-ID a header block names, with its brackets.
func messageID(header []byte) string {
	for _, line := range strings.Split(string(header), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "Message-ID") {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// fetch reads one section of the messages with uids.
func (m *Mailbox) fetch(ctx context.Context, folder string, uids []imap.UID, section *imap.FetchItemBodySection) ([]Message, error) {
	var msgs []*imapclient.FetchMessageBuffer
	err := m.do(ctx, func() error {
		var err error
		msgs, err = m.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		return err
	})
	if err != nil {
		return nil, &Error{fmt.Sprintf("reading %q on the IMAP server %s failed", folder, m.s.addr()), err}
	}
	out := make([]Message, 0, len(msgs))
	for _, msg := range msgs {
		var data []byte
		for _, b := range msg.BodySection {
			data = b.Bytes
		}
		out = append(out, Message{UID: msg.UID, Data: data})
	}
	return out, nil
}

// Has reports whether folder holds a message with the Message-ID id.
func (m *Mailbox) Has(ctx context.Context, folder, id string) (bool, error) {
	if err := m.selectFolder(ctx, folder); err != nil {
		return false, err
	}
	var found bool
	err := m.do(ctx, func() error {
		data, err := m.c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}}, nil).Wait()
		if err != nil {
			return err
		}
		found = len(data.AllUIDs()) > 0
		return nil
	})
	return found, err
}
